"""The command line end to end: train, evaluate, figures, options and errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from neuralnet.cli import main
from neuralnet.runs import FIGURE_FILES
from neuralnet.serving.predictor import load

#: the figures of a multilayer perceptron's run (the filters are a convolutional network's)
MLP_FIGURES = {
    name: path
    for name, path in FIGURE_FILES.items()
    if name not in ("filters", "decision_boundary", "decision_boundary_animation", "predictions")
}
RUN_FILES = [
    "config.json",
    "history.csv",
    "history.json",
    "metrics.json",
    "model.safetensors",
    "log.txt",
    *MLP_FIGURES.values(),
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, data_dir):
    """One small real training run through the CLI, shared by the tests below."""
    out = tmp_path_factory.mktemp("runs")
    argv = [
        "train",
        "--limit",
        "7000",
        "--epochs",
        "3",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    folders = list(out.iterdir())
    assert len(folders) == 1
    return folders[0]


def test_train_writes_every_file_of_a_run_folder(quick_run):
    for name in RUN_FILES:
        path = quick_run / name
        assert path.is_file() and path.stat().st_size > 0, name
    for name in MLP_FIGURES.values():
        with Image.open(quick_run / name) as image:
            assert image.format == "PNG" and image.size[0] > 200
    config = json.loads((quick_run / "config.json").read_text())["config"]
    assert config["hidden"] == [50] and config["lr"] == 0.1 and config["batch_size"] == 100
    assert config["epochs"] == 3 and config["limit"] == 7000 and config["seed"] == 123
    with open(quick_run / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert json.loads((quick_run / "history.json").read_text())[2]["epoch"] == 3
    log = (quick_run / "log.txt").read_text().splitlines()
    assert log[0].startswith("Epoch: 001/003 | Train MSE:") and log[-1].startswith("Test accuracy: ")
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert log[-1] == f"Test accuracy: {metrics['test_acc'] * 100:.2f}%"
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["n_test"] == 1000


def test_train_prints_the_log_and_test_accuracy(quick_run):
    text = (quick_run / "log.txt").read_text()
    assert text.count("Epoch: ") == 3


def test_saved_model_reproduces_the_test_accuracy(quick_run, data_dir):
    from neuralnet.datasets import load_chapter_data

    data = load_chapter_data("mnist", data_dir=data_dir, limit=7000, dtype=np.float32)
    predictor = load(quick_run)
    predictions = predictor.network.predict(data.X_test)
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert np.mean(predictions == data.y_test) == pytest.approx(metrics["test_acc"])


def test_evaluate_prints_accuracy_and_confusion_matrix(quick_run, data_dir, capsys):
    assert main(["evaluate", str(quick_run), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert f"Test accuracy: {metrics['test_acc'] * 100:.2f}%" in out
    assert "Confusion matrix" in out and "true\\pred" in out
    assert main(["evaluate", str(quick_run), "--data-dir", str(data_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_acc"] == pytest.approx(metrics["test_acc"])


def test_figures_redraws_every_figure(quick_run, data_dir, capsys):
    target = quick_run / FIGURE_FILES["misclassified"]
    target.unlink()
    assert main(["figures", str(quick_run), "--data-dir", str(data_dir)]) == 0
    assert target.is_file()
    printed = capsys.readouterr().out.split()
    assert len(printed) == len(MLP_FIGURES)


def test_a_second_run_gets_a_new_folder(tmp_path, data_dir):
    argv = [
        "train",
        "--limit",
        "700",
        "--epochs",
        "1",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path),
        "--no-progress",
        "--no-figures",
        "--quiet",
    ]
    assert main(argv) == 0
    assert main(argv) == 0
    assert len(list(tmp_path.iterdir())) == 2


def test_config_file_and_command_line_override(tmp_path, data_dir, capsys):
    config = tmp_path / "deep.toml"
    config.write_text(
        'hidden = [32, 16]\nactivation = "relu"\nloss = "cross-entropy"\noptimizer = "adam"\n'
        'lr = 0.001\ninit = "he"\nepochs = 5\n'
    )
    argv = [
        "train",
        "--config",
        str(config),
        "--epochs",
        "2",
        "--limit",
        "1400",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
        "--no-figures",
    ]
    assert main(argv) == 0
    run = next((tmp_path / "runs").iterdir())
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["hidden"] == [32, 16] and saved["optimizer"] == "adam" and saved["epochs"] == 2
    assert "Epoch: 002/002" in capsys.readouterr().out


def test_a_config_file_may_need_the_command_line_to_be_complete(tmp_path, data_dir):
    """The file and the options are merged, then checked as one configuration: a file's setting
    that needs another one (nesterov needs a momentum, the monitor needs a patience) may get it
    from the command line, which also wins over the file's hyphenated spelling of a key."""
    config = tmp_path / "partial.toml"
    config.write_text('nesterov = true\nearly_stopping_monitor = "valid_acc"\nbatch-size = 50\n')
    argv = [
        "train",
        "--config",
        str(config),
        "--momentum",
        "0.9",
        "--early-stopping",
        "2",
        "--batch-size",
        "20",
        "--epochs",
        "1",
        "--limit",
        "700",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
        "--no-figures",
        "--quiet",
    ]
    assert main(argv) == 0
    saved = json.loads((next((tmp_path / "runs").iterdir()) / "config.json").read_text())["config"]
    assert (saved["nesterov"], saved["momentum"], saved["early_stopping"]) == (True, 0.9, 2)
    assert (saved["early_stopping_monitor"], saved["batch_size"]) == ("valid_acc", 20)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--lr", "-0.1"], "lr = -0.1 is invalid: expected a number > 0"),
        (["train", "--hidden", "0"], "hidden = [0] is invalid"),
        (["train", "--dropout", "1.0"], "dropout = 1.0 is invalid: expected a probability in [0, 1)"),
        (["train", "--epochs", "0"], "epochs = 0 is invalid"),
        (["train", "--limit", "10"], "limit = 10 is invalid"),
        (
            ["train", "--early-stopping-monitor", "valid_acc"],
            "early_stopping_monitor = 'valid_acc' is invalid: expected to be given with early_stopping",
        ),
        (["train", "--config", "does-not-exist.toml"], "configuration file does-not-exist.toml does not exist"),
        (["evaluate", "no-such-run"], "run folder no-such-run does not exist"),
    ],
)
def test_bad_options_give_a_clear_error(argv, message, capsys, tmp_path):
    assert main([*argv, "--data-dir", str(tmp_path), "--no-download"] if argv[0] == "train" else argv) == 1
    assert message in capsys.readouterr().err


def test_early_stopping_monitor_offers_the_validation_metrics(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--early-stopping", "2", "--early-stopping-monitor", "train_acc"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'train_acc' (choose from 'valid_loss', 'valid_acc')" in capsys.readouterr().err


def _early_stopping_run(tmp_path, data_dir, monitor):
    """A small run whose validation accuracy levels off before its loss does (lr 0.5, 12 epochs)."""
    out = tmp_path / monitor
    argv = [
        "train",
        "--limit",
        "7000",
        "--epochs",
        "12",
        "--lr",
        "0.5",
        "--early-stopping",
        "2",
        "--early-stopping-monitor",
        monitor,
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--no-progress",
        "--no-figures",
        "--quiet",
    ]
    assert main(argv) == 0
    (folder,) = out.iterdir()
    history = json.loads((folder / "history.json").read_text())
    return folder, history, json.loads((folder / "metrics.json").read_text())


def _first_stop(values, patience, better):
    """(stopping epoch, best epoch) as early stopping should find them, or None."""
    best_epoch = 1
    for epoch, value in enumerate(values[1:], start=2):
        if better(value, values[best_epoch - 1]):
            best_epoch = epoch
        elif epoch - best_epoch >= patience:
            return epoch, best_epoch
    return None


def test_early_stopping_watches_the_chosen_metric_and_keeps_the_best_epoch(tmp_path, data_dir):
    folder, history, metrics = _early_stopping_run(tmp_path, data_dir, "valid_acc")
    accuracies = [row["valid_acc"] for row in history]
    stop, best = _first_stop(accuracies, 2, lambda new, old: new > old)  # it stops: 500 images level off
    assert (metrics["early_stopped_at"], metrics["best_epoch"]) == (stop, best) and len(history) == stop
    assert json.loads((folder / "config.json").read_text())["config"]["early_stopping_monitor"] == "valid_acc"
    log = (folder / "log.txt").read_text().splitlines()
    assert log[-2] == (
        f"Early stopping after epoch {stop}: valid_acc has not improved for 2 epochs; "
        f"the model keeps epoch {best}'s weights"
    )
    # the saved model is the best epoch's: it scores that epoch's validation accuracy
    from neuralnet.datasets import load_chapter_data

    data = load_chapter_data("mnist", data_dir=data_dir, limit=7000, dtype=np.float32)
    predictor = load(folder / "model.safetensors")
    assert np.mean(predictor.network.predict(data.X_valid) == data.y_valid) == pytest.approx(accuracies[best - 1])

    _, history, metrics = _early_stopping_run(tmp_path, data_dir, "valid_loss")
    expected = _first_stop([row["valid_loss"] for row in history], 2, lambda new, old: new < old)
    if expected is None:
        assert "early_stopped_at" not in metrics and len(history) == 12
    else:
        assert (metrics["early_stopped_at"], metrics["best_epoch"]) == expected


def test_missing_data_names_the_files(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NEURALNET_DATA_DIR", raising=False)  # no fallback folder with the data
    monkeypatch.setenv("NEURALNET_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["train", "--data-dir", str(tmp_path), "--no-download", "--out", str(tmp_path / "runs")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte" in err and str(tmp_path) in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("command", ["train", "evaluate", "figures"])
def test_help_explains_every_option(command):
    result = subprocess.run(
        [sys.executable, "-m", "neuralnet", command, "--help"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("usage: neuralnet " + command)
    assert "--data-dir" in result.stdout
    if command == "train":
        for option in (
            "--hidden",
            "--activation",
            "--loss",
            "--optimizer",
            "--lr",
            "--momentum",
            "--dropout",
            "--schedule",
            "--epochs",
            "--batch-size",
            "--early-stopping",
            "--config",
            "--dataset",
            "--limit",
            "--out",
            "--seed",
        ):
            assert option in result.stdout, option
        assert "(default: 0.1)" in result.stdout and "(default: 50)" in result.stdout


def test_module_entry_point_version():
    result = subprocess.run([sys.executable, "-m", "neuralnet", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("neuralnet ")
