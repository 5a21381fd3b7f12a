"""The web app's JSON API (neuralnet.web), through FastAPI's test client, and `neuralnet serve`."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from neuralnet.cli import main
from neuralnet.runs import FIGURE_FILES
from neuralnet.runs.config import TrainingConfig
from neuralnet.runs.experiment import train_run
from neuralnet.serving.imaging import encode_png, image_to_mnist, render_weights
from neuralnet.serving.predictor import load
from neuralnet.web import MAX_UPLOAD_BYTES, create_app

with warnings.catch_warnings():  # Starlette would like httpx2; httpx is what is installed
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

QUICK_RUN = TrainingConfig(epochs=2, limit=7000, batch_size=20)  # ~80% test accuracy in seconds


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, data_dir):
    result = train_run(QUICK_RUN, data_dir, out=tmp_path_factory.mktemp("runs"), log=None, progress=False)
    return result.path


@pytest.fixture(scope="module")
def predictor(run_folder):
    return load(run_folder)


@pytest.fixture(scope="module")
def client(run_folder):
    with TestClient(create_app(run_folder)) as client:
        yield client


@pytest.fixture(scope="module")
def digits(mnist):
    X, y = mnist
    return X[60000:60200], y[60000:60200]


def png_of(pixels, scale=10, invert=False) -> bytes:
    return encode_png(pixels, scale=scale, invert=invert)


def jpeg_of(pixels, scale=10) -> bytes:
    image = Image.open(io.BytesIO(png_of(pixels, scale, invert=True))).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def assert_error(response, status: int, *phrases: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for phrase in phrases:
        assert phrase in detail, detail
    return detail


# --- POST /api/predict: what it accepts ----------------------------------------------------


def check_answer(answer: dict, predictor, image: np.ndarray) -> None:
    """The answer is the library's: Predictor.predict_proba of the image neuralnet.serving.imaging makes."""
    expected = predictor.predict_proba(image.reshape(1, 784))[0]
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-6, atol=1e-7)
    assert answer["top_class"] == int(np.argmax(expected))
    assert answer["label"] == str(predictor.classes[answer["top_class"]])
    np.testing.assert_array_equal(answer["image"], image.ravel())


@pytest.mark.parametrize("how", ["multipart", "multipart-jpeg", "raw-png", "raw-jpeg", "field-image"])
def test_predict_an_image_file(client, predictor, digits, how):
    X, _ = digits
    data = jpeg_of(X[0]) if "jpeg" in how else png_of(X[0])
    if how.startswith("multipart"):
        response = client.post("/api/predict", files={"file": ("digit", data, "application/octet-stream")})
    elif how == "field-image":
        response = client.post("/api/predict", files={"image": ("digit.png", data, "image/png")})
    else:
        kind = "image/jpeg" if "jpeg" in how else "image/png"
        response = client.post("/api/predict", content=data, headers={"content-type": kind})
    assert response.status_code == 200, response.text
    check_answer(response.json(), predictor, image_to_mnist(data))


def test_predict_json_pixels_uses_them_as_they_are(client, predictor, digits):
    X, _ = digits
    for row in X[:20]:
        response = client.post("/api/predict", json={"pixels": row.tolist()})
        assert response.status_code == 200, response.text
        check_answer(response.json(), predictor, row)
    floats = (X[0] / 2 + 0.25).tolist()  # non-integer grey levels are fine too
    answer = client.post("/api/predict", json={"pixels": floats}).json()
    np.testing.assert_allclose(answer["probabilities"], predictor.predict_proba(np.array([floats]))[0], rtol=1e-6)
    np.testing.assert_allclose(answer["image"], floats)


def test_drawings_of_test_digits_get_the_models_answer_for_the_digits(client, predictor, digits):
    """Painted 10x larger and uploaded, 200 test digits get the answer the model gives to the
    original 784 pixels (the preprocessing recovers MNIST's normalization)."""
    X, _ = digits
    answers = [
        client.post("/api/predict", content=png_of(row), headers={"content-type": "image/png"}).json()["top_class"]
        for row in X
    ]
    agreement = np.mean(np.array(answers) == predictor.predict(X).astype(int))
    assert agreement >= 0.98


def test_concurrent_requests_each_get_their_own_answer(client, digits):
    X, _ = digits
    images = X[:40]
    expected = [client.post("/api/predict", json={"pixels": row.tolist()}).json()["probabilities"] for row in images]

    def ask(k):
        return client.post("/api/predict", json={"pixels": images[k].tolist()}).json()["probabilities"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, list(range(40)) * 3))
    for k, answer in enumerate(answers):
        assert answer == expected[k % 40]


# --- POST /api/predict: bad input gets a 4xx that says what was expected -----------------------


def test_a_body_over_2_mb_is_refused(client):
    big = b"\x89PNG" + bytes(MAX_UPLOAD_BYTES)
    assert_error(
        client.post("/api/predict", content=big, headers={"content-type": "image/png"}), 413, "2 MB", "expected"
    )
    assert_error(client.post("/api/predict", files={"file": ("big.png", big, "image/png")}), 413, "2 MB")
    huge_json = json.dumps({"pixels": [0] * 784, "padding": "x" * MAX_UPLOAD_BYTES}).encode()
    assert_error(
        client.post("/api/predict", content=huge_json, headers={"content-type": "application/json"}), 413, "2 MB"
    )


def test_a_streamed_body_without_content_length_is_cut_off_at_2_mb(client):
    def chunks():
        for _ in range(40):
            yield bytes(64 * 1024)  # 2.5 MB in all, sent chunked (no Content-Length)

    assert_error(client.post("/api/predict", content=chunks(), headers={"content-type": "image/png"}), 413, "2 MB")


def test_the_limit_is_enforced_while_reading(run_folder):
    """Talking ASGI directly: a 20 MB body whose Content-Length is not sent; the app must stop
    reading right after the first 2 MB."""
    app = create_app(run_folder)
    chunk = bytes(256 * 1024)
    received = 0
    sent = []

    async def receive():
        nonlocal received
        received += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": received < 20 * 2**20}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/predict",
        "raw_path": b"/api/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"image/png")],
        "client": ("127.0.0.1", 5),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert received <= MAX_UPLOAD_BYTES + len(chunk)
    assert b"2 MB" in b"".join(m.get("body", b"") for m in sent)


def test_exactly_2_mb_is_still_read(client):
    body = b"\x89PNG" + bytes(MAX_UPLOAD_BYTES - 4)  # at the limit: read, then found not to be a PNG
    assert_error(
        client.post("/api/predict", content=body, headers={"content-type": "image/png"}), 415, "expected a PNG or JPEG"
    )


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (20, 20), 128).save(buffer, format="GIF")
    return buffer.getvalue()


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (280, 280), 0).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "body, content_type, status, phrase",
    [
        (b"hello", "text/plain", 415, "Content-Type 'text/plain' is not accepted: expected multipart/form-data"),
        (b"hello", None, 415, "without a Content-Type is not accepted: expected"),
        (gif(), "image/gif", 415, "not accepted: expected"),
        (b"hello, I am not an image", "image/png", 415, "not an image that can be read: expected a PNG or JPEG"),
        (b"", "image/jpeg", 415, "empty (0 bytes): expected a PNG or JPEG"),
        (gif(), "image/png", 415, "GIF images are not accepted: expected a PNG or JPEG"),
        (blank_png(), "image/png", 422, "blank"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png", 415, "expected a PNG or JPEG"),
    ],
    ids=["text", "no-content-type", "gif-type", "not-an-image", "empty", "gif-as-png", "blank", "broken-png"],
)
def test_bad_images_and_types(client, body, content_type, status, phrase):
    headers = {"content-type": content_type} if content_type else {}
    assert_error(client.post("/api/predict", content=body, headers=headers), status, phrase)


def test_a_non_image_file_in_a_form(client):
    assert_error(
        client.post("/api/predict", files={"file": ("notes.txt", b"dear diary", "text/plain")}),
        415,
        "expected a PNG or JPEG",
    )
    assert_error(
        client.post("/api/predict", files={"file": ("anim.gif", gif(), "image/gif")}),
        415,
        "GIF images are not accepted",
    )


def test_forms_without_a_file_or_broken_forms(client):
    assert_error(
        client.post("/api/predict", data={"comment": "hi"}, files={"other": ("a", b"x"), "more": ("b", b"y")}),
        422,
        "no image file",
        "expected one file in a field named 'file'",
    )
    assert_error(
        client.post(
            "/api/predict", content=b"--xyz\r\nbroken", headers={"content-type": "multipart/form-data; boundary=xyz"}
        ),
        400,
        "multipart/form-data body is",
        "expected a form upload",
    )
    assert_error(
        client.post("/api/predict", content=b"anything", headers={"content-type": "multipart/form-data"}),
        400,
        "no boundary",
    )


NUMBER = "expected a number from 0 (background) to 255 (ink)"


@pytest.mark.parametrize(
    "body, status, phrases",
    [
        (b"{not json", 400, ["not valid JSON", 'expected {"pixels": [784 numbers']),
        (b"[1, 2, 3]", 422, ['expected a JSON object {"pixels"', "got list"]),
        (b'{"pixel": [0]}', 422, ["expected a JSON object", "keys ['pixel']"]),
        (b'{"pixels": "0,0,0"}', 422, ['"pixels" must be a list of 784 numbers, got str']),
        (json.dumps({"pixels": [0] * 783}).encode(), 422, ['"pixels" has 783 values: expected 784']),
        (json.dumps({"pixels": [0] * 785}).encode(), 422, ['"pixels" has 785 values: expected 784']),
        (json.dumps({"pixels": [[0] * 28] * 28}).encode(), 422, ['"pixels" has 28 values: expected 784']),
        (json.dumps({"pixels": [0] * 10 + ["7"] + [0] * 773}).encode(), 422, ['"pixels"[10] is "7"', NUMBER]),
        (json.dumps({"pixels": [None] + [0] * 783}).encode(), 422, ['"pixels"[0] is null', NUMBER]),
        (json.dumps({"pixels": [True] + [0] * 783}).encode(), 422, ['"pixels"[0] is true', NUMBER]),
        (b'{"pixels": [NaN' + b", 0" * 783 + b"]}", 422, ['"pixels"[0] is NaN, not a finite number', NUMBER]),
        (b'{"pixels": [0, Infinity' + b", 0" * 782 + b"]}", 422, ['"pixels"[1] is Infinity, not a finite', NUMBER]),
        (b'{"pixels": [-Infinity' + b", 0" * 783 + b"]}", 422, ["-Infinity, not a finite number"]),
        (b'{"pixels": [1e999' + b", 0" * 783 + b"]}", 422, ["Infinity, not a finite number"]),
        (json.dumps({"pixels": [0] * 783 + [256]}).encode(), 422, ['"pixels"[783] is 256, out of range', NUMBER]),
        (json.dumps({"pixels": [-0.5] + [0] * 783}).encode(), 422, ['"pixels"[0] is -0.5, out of range', NUMBER]),
        (json.dumps({"pixels": [10**30] + [0] * 783}).encode(), 422, ["out of range", NUMBER]),
        (b'{"pixels": [' + b"9" * 5000 + b"]}", 400, ["not valid JSON"]),
        (b"[" * 100_000 + b"]" * 100_000, 400, ["not valid JSON"]),
        (b"\xff\xfe{}", 400, ["not valid JSON"]),
    ],
    ids=[
        "broken",
        "list",
        "no-pixels",
        "string",
        "783",
        "785",
        "nested",
        "string-value",
        "null",
        "bool",
        "nan",
        "inf",
        "-inf",
        "overflow",
        "256",
        "negative",
        "huge-int",
        "5000-digits",
        "deep",
        "bad-utf8",
    ],
)
def test_bad_json(client, body, status, phrases):
    response = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert_error(response, status, *phrases)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=3000),
    content_type=st.sampled_from(
        ["image/png", "image/jpeg", "application/json", "multipart/form-data; boundary=b", "application/octet-stream"]
    ),
)
def test_random_bodies_never_cause_a_server_error(client, body, content_type):
    response = client.post("/api/predict", content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=20,
    )
)
def test_random_json_never_causes_a_server_error(client, document):
    body = json.dumps({"pixels": document}).encode()
    response = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "pixels" in response.json()["detail"]


def test_user_input_is_never_written_to_disk(client, run_folder, digits, monkeypatch, tmp_path):
    """Uploads of every kind, small and near the limit (where Starlette would spool a form's file
    to a temporary file): no temporary files are created and no folder gains a file."""
    import builtins

    import starlette.formparsers

    attempts = []
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            attempts.append(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            attempts.append(path)
        return real_os_open(path, flags, *args, **kwargs)

    def refuse(*args, **kwargs):
        attempts.append("a temporary file")
        raise AssertionError("the app tried to create a temporary file")

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)  # what tempfile uses underneath
    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", refuse)  # imported by name there
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in run_folder.rglob("*")}
    X, _ = digits
    canvas = np.zeros((1000, 1000, 1), dtype=np.int32)  # a photo-sized digit with some noise:
    canvas[10:990, 10:990, 0] = np.kron(X[0].reshape(28, 28), np.ones((35, 35)))  # ~1.7 MB as a PNG
    noisy = canvas + np.random.default_rng(0).integers(0, 16, (1000, 1000, 3))
    large = io.BytesIO()
    Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(large, format="PNG")
    assert 1.2 * 2**20 < len(large.getvalue()) < MAX_UPLOAD_BYTES
    responses = [
        client.post("/api/predict", files={"file": ("large.png", large.getvalue(), "image/png")}),
        client.post("/api/predict", files={"file": ("digit.png", png_of(X[0]), "image/png")}),
        client.post("/api/predict", content=jpeg_of(X[1]), headers={"content-type": "image/jpeg"}),
        client.post("/api/predict", json={"pixels": X[2].tolist()}),
    ]
    assert [r.status_code for r in responses] == [200] * 4
    assert attempts == [] and list(tmp_path.iterdir()) == []
    assert {p: p.stat().st_mtime_ns for p in run_folder.rglob("*")} == before


# --- GET /api/model, figures, hidden units, the page, the docs -------------------------------------


def test_model_description(client, run_folder):
    model = client.get("/api/model").json()
    metrics = json.loads((run_folder / "metrics.json").read_text())
    history = json.loads((run_folder / "history.json").read_text())
    assert model["run"] == run_folder.name
    assert model["layers"] == [784, 50, 10]
    assert model["architecture"]["layers"][1] == {"type": "Activation", "name": "sigmoid"}
    assert model["architecture"]["loss"] == "mse" and model["architecture"]["input_shape"] == [784]
    assert model["training"]["batch_size"] == 20 and model["training"]["epochs"] == 2
    assert model["metrics"]["test_acc"] == metrics["test_acc"]
    assert model["metrics"]["confusion_matrix"] == metrics["confusion_matrix"]
    assert model["history"] == history and [row["epoch"] for row in model["history"]] == [1, 2]
    assert model["classes"] == [str(k) for k in range(10)]
    sizes = json.loads((run_folder / "config.json").read_text())["sizes"]
    assert model["data"] == sizes and sum(sizes.values()) == 7000 and sizes["test"] == 1000
    # (the filters are a convolutional network's, the others those of 2-feature data and regressions)
    assert set(model["figures"]) == set(FIGURE_FILES) - {
        "filters",
        "decision_boundary",
        "decision_boundary_animation",
        "predictions",
    }
    assert model["hidden_units"] == {"count": 50, "url": "/api/hidden-units/{k}.png"}
    assert model["filters"] == {"count": 0, "url": "/api/filters/{k}.png", "size": None}


def test_every_figure_is_served_as_the_runs_png(client, run_folder):
    for name, url in client.get("/api/model").json()["figures"].items():
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content == (run_folder / FIGURE_FILES[name]).read_bytes()
    assert_error(client.get("/figures/secrets.png"), 404, "no figure 'secrets'", "expected one of")
    for sneaky in ("/figures/..%2Fconfig.png", "/figures/%2E%2E%2Fmetrics.png", "/figures/loss.png%00"):
        response = client.get(sneaky)
        assert response.status_code == 404 and b"confusion_matrix" not in response.content


def test_hidden_units_are_drawn_from_the_weights(client, predictor):
    weights = predictor.network.parameters()[0].value
    for k in (0, 17, 49):
        response = client.get(f"/api/hidden-units/{k}.png")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content == render_weights(weights[k])
        assert Image.open(io.BytesIO(response.content)).size == (112, 112)
    assert_error(client.get("/api/hidden-units/50.png"), 404, "hidden unit 50 does not exist: expected 0 to 49")
    assert_error(client.get("/api/hidden-units/-1.png"), 404, "expected 0 to 49")
    assert client.get("/api/hidden-units/seven.png").status_code == 422


def test_model_history_with_nan_is_valid_json(run_folder, tmp_path):
    """JSON has no NaN: a run whose history holds NaN (e.g. a diverged epoch) is served with null."""
    copy = shutil.copytree(run_folder, tmp_path / "run")
    rows = json.loads((copy / "history.json").read_text())
    rows[0]["valid_loss"] = float("nan")
    (copy / "history.json").write_text(json.dumps(rows))
    with TestClient(create_app(copy)) as client:
        response = client.get("/api/model")
    assert response.status_code == 200 and response.json()["history"][0]["valid_loss"] is None


def test_the_page_and_its_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for needle in (
        'id="pad"',
        'id="clear"',
        'id="upload"',
        'id="seen"',
        'id="bars"',
        'id="model-view"',
        "/static/app.js",
        "/static/style.css",
    ):
        assert needle in page.text
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "/api/predict" in script.text and "/api/model" in script.text
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/nothing.js").status_code == 404


def test_openapi_documents_the_api(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text  # Swagger UI comes from the server: the docs work offline
    script = re.search(r'src="(/[^"]*swagger-ui-bundle\.js)"', docs.text).group(1)
    assert client.get(script).status_code == 200
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/api/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {
        "multipart/form-data",
        "image/png",
        "image/jpeg",
        "application/json",
    }
    assert {"400", "413", "415", "422"} <= set(predict["responses"])
    schema = spec["components"]["schemas"]["Prediction"]["properties"]
    assert {"probabilities", "top_class", "label", "image"} <= set(schema)
    assert "/api/model" in spec["paths"]


def test_create_app_needs_a_run_folder_of_a_28_by_28_model(run_folder, tmp_path):
    from helpers import MLP, build_mlp

    from neuralnet.serving.modelfile import save_model

    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_app(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="not a training run folder"):
        create_app(tmp_path)
    other = shutil.copytree(run_folder, tmp_path / "other")
    architecture = MLP(n_features=100, hidden=[5], n_outputs=10)
    save_model(other / "model.safetensors", build_mlp(architecture), overwrite=True)
    with pytest.raises(ValueError, match="takes 100 inputs, but the web app serves models of 28 x 28 images"):
        create_app(other)


# --- neuralnet serve --------------------------------------------------------------------------------


def test_serve_defaults_to_the_latest_run_on_localhost(run_folder, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    assert main(["serve", "--runs-dir", str(run_folder.parent)]) == 0
    ((app, options),) = calls
    assert options["host"] == "127.0.0.1" and options["port"] == 8000
    assert app.state.run.path == run_folder
    assert main(["serve", str(run_folder), "--host", "0.0.0.0", "--port", "9001"]) == 0
    assert calls[1][1]["host"] == "0.0.0.0" and calls[1][1]["port"] == 9001


def test_serve_skips_and_explains_a_tune_folder(run_folder, tmp_path, monkeypatch, capsys):
    """A `neuralnet tune` folder holds a model but no training run; a bare `serve` after a
    search still serves the latest training run, and serving the search folder says why not."""
    import os
    import shutil

    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(app))
    trained = shutil.copytree(run_folder, tmp_path / "runs" / "20260101-000000")
    searched = tmp_path / "runs" / "20260101-000100"
    searched.mkdir()
    shutil.copy(run_folder / "model.safetensors", searched / "model.safetensors")
    (searched / "search.json").write_text("{}")
    later = (trained / "model.safetensors").stat().st_mtime + 60
    os.utime(searched / "model.safetensors", (later, later))
    assert main(["serve", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert calls[0].state.run.path == trained
    assert main(["serve", str(searched)]) == 1
    assert "is not a training run folder (no config.json); it is a `neuralnet tune` folder" in capsys.readouterr().err


def test_serve_errors(tmp_path, capsys):
    assert main(["serve", "--runs-dir", str(tmp_path)]) == 1
    assert "no trained run in" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--port", "70000"])
    assert exit_info.value.code == 2
    assert "invalid port 70000: expected a number from 0 to 65535" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_neuralnet_serve_answers_on_127_0_0_1(run_folder):
    """The real command in a subprocess: it listens on 127.0.0.1 and answers the page and the API."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "neuralnet", "serve", str(run_folder), "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start: {process.stdout.read().decode()}") from None
                time.sleep(0.2)
        assert page.status_code == 200 and 'id="pad"' in page.text
        model = httpx.get(f"http://127.0.0.1:{port}/api/model", timeout=5).json()
        assert model["run"] == run_folder.name
        answer = httpx.post(f"http://127.0.0.1:{port}/api/predict", json={"pixels": [0] * 784}, timeout=5)
        assert answer.status_code == 200 and len(answer.json()["probabilities"]) == 10
        # over the network too, a large body gets its 413 (declared, or streamed without a length)
        too_big = httpx.post(
            f"http://127.0.0.1:{port}/api/predict",
            content=bytes(3 * 2**20),
            headers={"content-type": "image/png"},
            timeout=10,
        )
        assert_error(too_big, 413, "2 MB")
        streamed = httpx.post(
            f"http://127.0.0.1:{port}/api/predict",
            content=(bytes(2**16) for _ in range(64)),
            headers={"content-type": "image/jpeg"},
            timeout=10,
        )
        assert_error(streamed, 413, "2 MB")
        assert httpx.get(f"http://127.0.0.1:{port}/api/model", timeout=5).status_code == 200  # still up
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert f"at http://127.0.0.1:{port}/" in output


# --- large pictures: bounded memory, a clear refusal, a bounded queue ----------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (1-bit grey), with no image data: enough
    for a decoder to read the size."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_a_picture_above_pillows_own_limit_is_called_too_large(client):
    response = client.post(
        "/api/predict", content=_png_header_only(20_000, 10_000), headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 422
    assert "too large" in response.json()["detail"] and "200000000 pixels" in response.json()["detail"]
    response = client.post("/api/predict", content=_png_header_only(5000, 5000), headers={"Content-Type": "image/png"})
    assert response.status_code == 422 and "5000 x 5000 pixels" in response.json()["detail"]


def test_a_4096_pixel_drawing_is_decoded_in_bounded_memory():
    """A 4096 x 4096 RGBA drawing (about 80 KB of PNG) is read in a fresh process: its peak
    memory is the decoded picture (67 MB) and a little, not the 0.5 GB it cost when its ink
    was found at full size; and the digit comes out as from the same drawing at 1024 pixels."""
    script = """
import io, resource
from PIL import Image, ImageDraw
def drawing(side):
    img = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    ImageDraw.Draw(img).line([(side * 0.37, side * 0.15), (side * 0.63, side * 0.15), (side * 0.44, side * 0.85)],
                             fill=(0, 0, 0, 255), width=side // 16)
    buffer = io.BytesIO(); img.save(buffer, format="PNG"); return buffer.getvalue()
big, small = drawing(4096), drawing(1024)
import numpy as np
from neuralnet.serving.imaging import image_to_mnist
image_to_mnist(small)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
a = image_to_mnist(big)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
b = image_to_mnist(small)
print(grown, np.abs(a.astype(int) - b.astype(int)).mean())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    grown, difference = map(float, out.split())
    assert grown < 150, f"decoding a 4096 x 4096 picture grew the peak memory by {grown:.0f} MB"
    assert difference < 4  # the same digit, to a few grey levels on average


def test_predictions_beyond_the_bound_in_flight_are_refused_with_503(run_folder, monkeypatch):
    import neuralnet.web.app as web_app

    monkeypatch.setattr(web_app, "MAX_REQUESTS_IN_FLIGHT", 0)  # every request finds the queue full
    with TestClient(create_app(run_folder)) as busy:
        response = busy.post("/api/predict", json={"pixels": [0] * 784})
    assert response.status_code == 503 and "try again" in response.json()["detail"]


def test_the_hidden_activations_are_the_first_layers_units(client, predictor, digits):
    X, _ = digits
    response = client.post("/api/hidden-activations", json={"pixels": X[0].tolist()})
    assert response.status_code == 200
    answer = response.json()
    dense = predictor.network.layers[0]
    x = (X[0].astype(np.float64) / 255.0 - 0.5) * 2  # the chapter's scaling
    by_hand = 1.0 / (1.0 + np.exp(-(x @ dense.weight.T.astype(np.float64) + dense.bias)))  # sigmoid(x W^T + b)
    np.testing.assert_allclose(answer["activations"], by_hand, rtol=1e-5, atol=1e-6)
    assert answer["layer"] == "Dense(784 -> 50) + sigmoid" and answer["low"] == 0.0
    assert (
        client.post("/api/hidden-activations", content=b"x", headers={"Content-Type": "image/png"}).status_code == 415
    )
