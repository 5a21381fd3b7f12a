"""Hyper-parameter search: the search space, local and Dask runs, a killed worker, the CLI."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from neuralnet.cli import main
from neuralnet.datasets import load_chapter_data
from neuralnet.serving.predictor import load
from neuralnet.tune import SearchSpace, TuneError, dask_client, run_search, write_search_run

pytestmark = pytest.mark.timeout(600)


# --- the search space ------------------------------------------------------------------------


def test_parameters_from_the_command_line():
    space = SearchSpace.from_strings(
        ["hidden=50,100x50", "lr=0.1,0.03", "epochs=5", "nesterov=true", "activation=relu"], cv=4
    )
    assert space.grid["hidden"] == [[50], [100, 50]]
    assert space.grid["lr"] == [0.1, 0.03]
    assert space.estimator_grid() == {"hidden_layer_sizes": [(50,), (100, 50)], "learning_rate": [0.1, 0.03]}
    assert space.fixed() == {"max_iter": 5, "nesterov": True, "activation": "relu"}
    assert space.n_candidates() == 4 and space.cv == 4


def test_random_search_counts_its_candidates():
    space = SearchSpace.from_strings(["hidden=10,20,30", "lr=0.1,0.01,0.001"], search="random", n_iter=4)
    assert space.n_candidates() == 4


def test_parameters_from_a_toml_file(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text(
        'cv = 2\nsearch = "grid"\nlimit = 1400\n[grid]\nhidden = [16, [32, 16]]\n'
        "learning_rate = [0.01, 0.003]\nepochs = 2\n"
    )
    space = SearchSpace.from_toml(path)
    assert space.grid["hidden"] == [[16], [32, 16]] and space.grid["lr"] == [0.01, 0.003]
    assert space.fixed() == {"max_iter": 2} and space.cv == 2 and space.limit == 1400


def test_a_parameter_given_twice_or_under_two_names_adds_its_values():
    space = SearchSpace.from_strings(["lr=0.1", "learning_rate=0.03", "lr=0.01,0.1", "hidden=20"])
    assert space.grid["lr"] == [0.1, 0.03, 0.01] and space.grid["hidden"] == [[20]]  # 0.1 once


def test_command_line_parameters_over_a_toml_file(tmp_path):
    from argparse import Namespace

    from neuralnet.cli.tune import space_from_args

    path = tmp_path / "search.toml"
    path.write_text("cv = 2\n[grid]\nhidden = [16, 32]\nlr = [0.01, 0.003]\nepochs = 2\n")
    args = Namespace(
        config=str(path),
        param=["lr=0.1", "lr=0.03", "learning_rate=0.01"],
        search=None,
        n_iter=None,
        cv=None,
        seed=None,
        dataset=None,
        limit=None,
    )
    space = space_from_args(args)
    # the command line's lr replaces the file's, its three values together; the rest is the file's
    assert space.grid == {"hidden": [[16], [32]], "lr": [0.1, 0.03, 0.01], "epochs": [2]}
    assert space.n_candidates() == 6 and space.cv == 2
    args.param = ["hidden=64"]  # fixing the only searched parameter leaves nothing to search
    args.config = None
    with pytest.raises(TuneError, match=r"nothing to search: every parameter has a single value \(hidden=64\)"):
        space_from_args(args)


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[grid]\nepochs = 2.5\nlr = [0.1, 0.2]\n", r"epochs = 2.5 is invalid: expected a positive integer"),
        (
            "[grid]\nbatch_size = [64.9]\nlr = [0.1, 0.2]\n",
            r"batch_size = 64.9 is invalid: expected a positive integer",
        ),
        (
            "[grid]\nhidden = [[32, 0.5]]\nlr = [0.1, 0.2]\n",
            r"hidden = \[32, 0.5\] is invalid: expected a list of positive integers \(units per hidden layer\)",
        ),
        ("[grid]\nhidden = [-4]\nlr = [0.1, 0.2]\n", r"hidden = -4 is invalid: expected a list of positive integers"),
        (
            "[grid]\nactivation = ['relu', 'swish']\nlr = [0.1, 0.2]\n",
            r"activation = 'swish' is invalid: expected one of",
        ),
        ("grid = 5\n", r"grid = 5; expected a \[grid\] table"),
    ],
)
def test_bad_values_in_a_toml_file_name_the_value(tmp_path, toml, message):
    path = tmp_path / "search.toml"
    path.write_text(toml)
    with pytest.raises(TuneError, match=message):
        SearchSpace.from_toml(path)


def test_whole_floats_in_a_toml_file_are_accepted(tmp_path):
    path = tmp_path / "search.toml"
    path.write_text("[grid]\nepochs = 3.0\nhidden = [64.0, [32, 16.0]]\n")
    assert SearchSpace.from_toml(path).grid == {"epochs": [3], "hidden": [[64], [32, 16]]}


@pytest.mark.parametrize(
    "params, message",
    [
        (["width=10,20"], "unknown parameter 'width'"),
        (["lr"], "expected NAME=VALUE"),
        (["lr=fast"], "lr='fast': 'fast' is not a number; expected a number > 0"),
        (["hidden=0,10"], r"hidden = \[0\] is invalid: expected a list of positive integers"),
        (["hidden=ten"], "expected units per layer"),
        (["dropout=1.5"], r"dropout = 1.5 is invalid: expected a probability in \[0, 1\)"),
        (["threads=2,4"], "unknown parameter 'threads'"),
        (["nesterov=maybe"], "not a boolean"),
    ],
)
def test_bad_parameters_name_the_value(params, message):
    with pytest.raises(TuneError, match=message):
        SearchSpace.from_strings(params)


def test_bad_search_options():
    with pytest.raises(TuneError, match="cv=1: expected an integer >= 2"):
        SearchSpace.from_strings(["lr=0.1,0.2"], cv=1)
    with pytest.raises(TuneError, match="search='bayes'"):
        SearchSpace.from_strings(["lr=0.1,0.2"], search="bayes")


def test_a_search_needs_something_to_search():
    X = np.zeros((20, 3), np.float32)
    with pytest.raises(TuneError, match="nothing to search"):
        run_search(SearchSpace.from_strings(["lr=0.1"]), X, np.arange(20) % 2)


# --- searches on real data -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_mnist(data_dir):
    data = load_chapter_data("mnist", data_dir=data_dir, limit=2100)
    X = np.concatenate([data.X_train, data.X_valid])
    y = np.concatenate([data.y_train, data.y_valid])
    return X, y, data.X_test, data.y_test


SPACE = ["hidden=16,32", "lr=0.01,0.003", "epochs=3", "batch_size=32"]


def _scores(result):
    return {(row["hidden"], row["lr"]): (row["mean_score"], row["std_score"]) for row in result.table()}


@pytest.fixture(scope="module")
def local_result(small_mnist):
    X, y, _, _ = small_mnist
    return run_search(SearchSpace.from_strings(SPACE, cv=2), X, y, n_jobs=2, verbose=0)


def test_local_search_and_its_run_folder(local_result, small_mnist, tmp_path):
    _, _, X_test, y_test = small_mnist
    rows = local_result.table()
    assert len(rows) == 4 and [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    assert all(0.1 < r["mean_score"] <= 1 and r["mean_fit_seconds"] > 0 for r in rows)  # chance: 0.1
    assert local_result.best_score == rows[0]["mean_score"]
    path = write_search_run(local_result, tmp_path, X_test=X_test, y_test=y_test)
    for name in ("results.csv", "results.md", "search.json", "metrics.json", "model.safetensors", "figures/scores.png"):
        assert (path / name).is_file(), name
    search = json.loads((path / "search.json").read_text())
    assert search["candidates"] == 4 and search["best_cv_accuracy"] == pytest.approx(rows[0]["mean_score"])
    assert search["best_params"]["hidden"] == rows[0]["hidden"]
    # the refitted best model, saved in the standard format, predicts as the estimator does
    predictor = load(path)
    best = local_result.best_estimator
    np.testing.assert_array_equal(predictor.network.predict_output(X_test), best.network_.predict_output(X_test))
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["test_acc"] == pytest.approx(best.score(X_test, y_test))
    assert "| hidden | lr |" in (path / "results.md").read_text()


def test_dask_search_gives_the_local_scores(local_result, small_mnist):
    X, y, _, _ = small_mnist
    dask = run_search(SearchSpace.from_strings(SPACE, cv=2), X, y, dask_workers=2, verbose=0)
    assert _scores(dask) == _scores(local_result)
    assert dask.best_params == local_result.best_params


def test_a_killed_worker_does_not_lose_the_search(small_mnist):
    """SIGKILL one of two Dask worker processes while fits run: Dask reruns its tasks on the
    restarted worker and the search ends with the same scores as the undisturbed local one."""
    from dask.distributed import Client, LocalCluster

    X, y, _, _ = small_mnist
    space = ["hidden=64,128", "lr=0.01,0.003", "epochs=40", "batch_size=32"]  # fits of about a second
    expected = run_search(SearchSpace.from_strings(space, cv=2), X, y, n_jobs=2, verbose=0)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as cluster:
        outcome = {}

        def search():
            try:
                outcome["result"] = run_search(
                    SearchSpace.from_strings(space, cv=2), X, y, scheduler=cluster.scheduler_address, verbose=0
                )
            except BaseException as error:  # reported by the assertion below
                outcome["error"] = error

        thread = threading.Thread(target=search)
        thread.start()
        with Client(cluster.scheduler_address) as client:
            deadline = time.monotonic() + 120
            while not any(client.processing().values()):  # wait until fits are running
                assert time.monotonic() < deadline, "no task started"
                time.sleep(0.05)
            busy = next(address for address, tasks in client.processing().items() if tasks)
            pid = client.run(os.getpid, workers=[busy])[busy]
            os.kill(pid, signal.SIGKILL)
            thread.join(timeout=500)
            assert pid not in client.run(os.getpid).values()  # the worker really died
        assert not thread.is_alive(), "the search did not finish"
        assert "error" not in outcome, outcome.get("error")
    assert _scores(outcome["result"]) == _scores(expected)


def test_dask_client_connects_to_a_scheduler_address():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        with dask_client(cluster.scheduler_address) as client:
            assert client.submit(sum, [1, 2, 3]).result() == 6


# --- the command line ------------------------------------------------------------------------------


def test_tune_command_end_to_end(tmp_path, data_dir, capsys):
    argv = [
        "tune",
        "--param",
        "hidden=16,32",
        "--param",
        "lr=0.01",
        "--param",
        "epochs=2",
        "--cv",
        "2",
        "--limit",
        "1400",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path),
        "--dask-workers",
        "2",
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| hidden | mean_score |" in out and "Best: hidden=" in out and "Run folder:" in out
    run = next(tmp_path.iterdir())
    search = json.loads((run / "search.json").read_text())
    assert search["grid"]["hidden"] == ["16", "32"] and search["candidates"] == 2
    assert search["where"] == "a local Dask cluster of 2 workers"
    assert (run / "model.safetensors").is_file()


def test_a_fashion_mnist_search_saves_the_class_names(tmp_path, data_dir, capsys):
    argv = [
        "tune",
        "--dataset",
        "fashion-mnist",
        "--param",
        "hidden=8,16",
        "--param",
        "epochs=1",
        "--cv",
        "2",
        "--limit",
        "700",
        "--n-jobs",
        "1",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    assert main(argv) == 0
    predictor = load(next(tmp_path.iterdir()))
    assert predictor.classes[:3] == ["T-shirt/top", "Trouser", "Pullover"] and len(predictor.classes) == 10
    assert set(predictor.predict(np.zeros((2, 784), np.uint8))) <= set(predictor.classes)


def test_a_search_on_other_labels_saves_them_as_text(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, (120, 784)).astype(np.float32)
    y = np.array(["cat", "dog", "eel"])[np.arange(120) % 3]
    result = run_search(SearchSpace.from_strings(["hidden=4,8", "epochs=1"], cv=2), X, y, n_jobs=1, verbose=0)
    predictor = load(write_search_run(result, tmp_path))
    assert predictor.classes == ["cat", "dog", "eel"]


def test_tune_command_errors(tmp_path, capsys):
    assert main(["tune", "--out", str(tmp_path)]) == 1
    assert "give the parameters to search with --param" in capsys.readouterr().err
    assert main(["tune", "--param", "depth=2,3", "--out", str(tmp_path)]) == 1
    assert "unknown parameter 'depth'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_search_recipe_in_the_repository_loads():
    from pathlib import Path

    space = SearchSpace.from_toml(Path(__file__).resolve().parents[1] / "recipes" / "search-mnist.toml")
    assert space.estimator_grid() == {
        "hidden_layer_sizes": [(100,), (256, 128), (512, 256)],
        "learning_rate": [0.001, 0.0003],
    }
    assert space.n_candidates() == 6 and space.cv == 3
