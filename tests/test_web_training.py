"""Training from the web app: the API (start, events, stop, resume, refusals) and the
Backpropagation view's numbers, against run folders and ``neuralnet explain --json``.

Each training runs in a child process of its own, as the server runs it; the 2-D problems keep
every training to a few seconds.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from neuralnet.explain import walk_through  # noqa: E402
from neuralnet.runs.config import TrainingConfig  # noqa: E402
from neuralnet.runs.experiment import train_run  # noqa: E402
from neuralnet.serving.modelfile import load_model  # noqa: E402
from neuralnet.web import create_app  # noqa: E402

MOONS = {
    "dataset": "moons",
    "samples": 300,
    "noise": 0.2,
    "hidden": [8],
    "activation": "tanh",
    "loss": "cross-entropy",
    "optimizer": "adam",
    "lr": 0.02,
    "batch_size": 20,
    "epochs": 4,
    "seed": 3,
}


@pytest.fixture(scope="module")
def served_run(tmp_path_factory, data_dir):
    """A tiny MNIST run for the app to serve (the trainings go elsewhere)."""
    config = TrainingConfig(epochs=1, limit=700, hidden=[8])
    return train_run(config, data_dir, out=tmp_path_factory.mktemp("served"), log=None, progress=False).path


@pytest.fixture
def client(served_run, tmp_path, data_dir):
    app = create_app(served_run, train_out=tmp_path / "trainings", data_dir=data_dir, max_trainings=1)
    with TestClient(app) as client:
        yield client


def events_until_final(client, training_id: int, after: int = -1, timeout: float = 120) -> list[tuple[str, dict]]:
    """Read the server-sent events of a training until its last one (done, stopped or failed)."""
    received = []
    deadline = time.monotonic() + timeout
    with client.stream("GET", f"/api/trainings/{training_id}/events", params={"after": after}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = {}
        for line in response.iter_lines():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no final event within {timeout} s; got {[kind for kind, _ in received]}")
            if line.startswith("event: "):
                event["kind"] = line[len("event: ") :]
            elif line.startswith("data: "):
                event["data"] = json.loads(line[len("data: ") :])
            elif line.startswith("id: "):
                event["id"] = int(line[len("id: ") :])
            elif line == "" and "kind" in event:
                received.append((event["kind"], event["data"]))
                if event["kind"] in ("done", "stopped", "failed"):
                    break
                event = {}
    return received


def test_a_training_started_by_the_api_is_an_ordinary_run(client, tmp_path):
    response = client.post("/api/trainings", json=MOONS)
    assert response.status_code == 201, response.text
    training = response.json()
    assert training["state"] in ("starting", "running") and training["settings"]["dataset"] == "moons"
    events = events_until_final(client, training["id"])
    kinds = [kind for kind, _ in events]
    assert kinds[0] in ("points", "started") and kinds[-1] == "done", kinds
    rows = [data for kind, data in events if kind == "epoch"]
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    boundaries = [data for kind, data in events if kind == "boundary"]
    points = next(data for kind, data in events if kind == "points")
    assert len(boundaries) == 4 and len(boundaries[-1]["classes"]) == len(points["grid"]["x"]) ** 2
    assert set(points["classes"]) == {"0", "1"} and len(points["X"]) == len(points["y"]) > 100
    done = events[-1][1]
    run = tmp_path / "trainings" / done["run"].split("/")[-1]
    assert run.is_dir() and (run / "model.safetensors").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert done["metrics"]["test_acc"] == metrics["test_acc"] > 0.8
    history = json.loads((run / "history.json").read_text())
    assert [row["valid_acc"] for row in history] == [row["valid_acc"] for row in rows]
    # the same settings trained from Python give the same run (same seed, same data)
    again = train_run(TrainingConfig.from_dict(MOONS), out=tmp_path / "python", log=None, progress=False, figures=False)
    network, _ = load_model(run)
    np.testing.assert_array_equal(network.flat_values, again.network.flat_values)
    assert client.get(f"/api/trainings/{training['id']}").json()["state"] == "done"


def test_a_stopped_training_resumes_to_the_end(client):
    slow = {**MOONS, "samples": 4000, "epochs": 40, "batch_size": 10}
    training = client.post("/api/trainings", json=slow).json()
    # one training at a time: a second is refused while the first runs
    busy = client.post("/api/trainings", json=MOONS)
    assert busy.status_code == 409 and "--max-trainings" in busy.json()["detail"]
    # wait for the first finished epoch, then stop
    deadline = time.monotonic() + 60
    while not any(e["event"] == "epoch" for e in client.get(f"/api/trainings/{training['id']}/log").json()):
        assert time.monotonic() < deadline, "no epoch finished within 60 s"
        time.sleep(0.2)
    assert client.post(f"/api/trainings/{training['id']}/stop").status_code == 200
    events = events_until_final(client, training["id"])
    kind, stopped = events[-1]
    assert kind == "stopped" and stopped["epoch"] >= 1
    assert client.get(f"/api/trainings/{training['id']}").json()["state"] == "stopped"
    last = client.get(f"/api/trainings/{training['id']}/log").json()[-1]["id"]
    resumed = client.post(f"/api/trainings/{training['id']}/resume")
    assert resumed.status_code == 200, resumed.text
    events = events_until_final(client, training["id"], after=last, timeout=300)
    assert events[-1][0] == "done"
    history = json.loads((__import__("pathlib").Path(events[-1][1]["run"]) / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, 41))


def test_bad_settings_and_unknown_trainings_are_refused_clearly(client):
    response = client.post("/api/trainings", json={**MOONS, "epochs": 0})
    assert response.status_code == 422 and "epochs = 0 is invalid" in response.json()["detail"]
    response = client.post("/api/trainings", json={**MOONS, "colour": "red"})
    assert response.status_code == 422 and "unknown configuration keys ['colour']" in response.json()["detail"]
    response = client.post("/api/trainings", content=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    for method, path in [("get", "/api/trainings/99"), ("post", "/api/trainings/99/stop"), ("get", "/api/trainings/x")]:
        answer = getattr(client, method)(path)
        assert answer.status_code in (404, 422), (path, answer.status_code)
    assert client.get("/api/trainings").json() == []


def test_the_new_endpoints_are_in_the_api_docs(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/trainings",
        "/api/trainings/{training_id}/events",
        "/api/trainings/{training_id}/stop",
        "/api/trainings/{training_id}/resume",
        "/api/explain",
    ):
        assert path in paths, sorted(paths)
    docs = client.get("/docs").text
    assert 'href="/"' in docs  # a way back to the app


def test_the_explain_endpoint_gives_the_numbers_of_neuralnet_explain(client):
    for params in ({}, {"activation": "relu", "loss": "cross-entropy", "seed": 7}):
        answer = client.get("/api/explain", params=params)
        assert answer.status_code == 200
        expected = walk_through(
            3,
            activation=params.get("activation", "sigmoid"),
            loss=params.get("loss", "mse"),
            seed=params.get("seed", 123),
        ).to_dict()
        assert answer.json() == json.loads(json.dumps(expected))
    refused = client.get("/api/explain", params={"activation": "softmax"})
    assert refused.status_code == 422 and "output layer" in refused.json()["detail"]
