"""Checkpoints and resume: a run killed with SIGKILL mid-epoch and resumed ends bit for bit where
an uninterrupted run ends; resuming from any epoch restores weights, optimizer, RNGs, history and
callbacks; the divergence guard keeps the last good checkpoint; nothing is overwritten unasked."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import MLP, build_mlp
from safetensors.numpy import load_file

from neuralnet.cli import main
from neuralnet.engine.optim import SGD, Adam
from neuralnet.engine.schedules import SCHEDULES
from neuralnet.runs.config import TrainingConfig
from neuralnet.runs.experiment import continue_run, resume_run, train_run
from neuralnet.serving.predictor import load
from neuralnet.training import Callback, EarlyStopping, Trainer, TrainingDiverged
from neuralnet.training.checkpoints import (
    CHECKPOINT_FILENAME,
    Checkpointer,
    CheckpointError,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)

# a run long enough (about half a second an epoch here) to be killed in the middle of an epoch;
# dropout, shifted images and momentum, so that their generators' and buffers' states must be
# restored too
KILL_RUN = [
    "--limit",
    "10000",
    "--epochs",
    "3",
    "--hidden",
    "100",
    "50",
    "--activation",
    "tanh",
    "--dropout",
    "0.2",
    "--shift",
    "1",
    "--momentum",
    "0.9",
    "--lr",
    "0.05",
    "--seed",
    "7",
    "--threads",
    "1",
    "--no-figures",
    "--no-progress",
]


def weights_hash(model_file: Path) -> str:
    """SHA-256 of every tensor's bytes, in name order (the header holds timings, so not the file's)."""
    tensors = load_file(str(model_file))
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode() + tensors[name].tobytes())
    return digest.hexdigest()


def only_folder(out: Path) -> Path:
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_a_run_killed_mid_epoch_resumes_to_bit_identical_weights(tmp_path, data_dir):
    env = {**os.environ, "NEURALNET_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "neuralnet", "train", *KILL_RUN, "--data-dir", str(data_dir)]
    # the interrupted run: SIGKILL once the checkpoint of epoch 1 is on disk (the process is then
    # in epoch 2: with evaluation on the second thread the checkpoint comes during epoch 2)
    process = subprocess.Popen(
        [*command, "--out", str(tmp_path / "killed")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 300
    while not list((tmp_path / "killed").glob(f"*/{CHECKPOINT_FILENAME}")):
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.01)
    time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    run = only_folder(tmp_path / "killed")
    assert not (run / "model.safetensors").exists()  # killed before the end
    killed_at = load_checkpoint(run / CHECKPOINT_FILENAME).epoch
    assert 1 <= killed_at < 3

    resumed = subprocess.run(
        [sys.executable, "-m", "neuralnet", "train", "--resume", str(run), "--no-progress", "--no-figures"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming {run} after epoch {killed_at}/3" in resumed.stdout
    assert f"Run folder: {run}" in resumed.stdout
    assert [p.name for p in (tmp_path / "killed").iterdir()] == [run.name]  # no new folder

    # the same run, uninterrupted (here, in the test's process)
    assert main(["train", *KILL_RUN, "--data-dir", str(data_dir), "--out", str(tmp_path / "straight"), "--quiet"]) == 0
    reference = only_folder(tmp_path / "straight")

    assert weights_hash(run / "model.safetensors") == weights_hash(reference / "model.safetensors")
    assert (run / "log.txt").read_text() == (reference / "log.txt").read_text()

    def without_times(folder):
        return [
            {k: v for k, v in row.items() if k != "seconds"}
            for row in json.loads((folder / "history.json").read_text())
        ]

    assert without_times(run) == without_times(reference)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed_after_epoch"] == killed_at
    assert metrics["test_acc"] == json.loads((reference / "metrics.json").read_text())["test_acc"] > 0.8


class KeepCopies(Callback):
    """Keeps the bytes of the checkpoint file after each epoch (runs after the Checkpointer)."""

    def __init__(self, checkpointer: Checkpointer):
        self.checkpointer, self.copies = checkpointer, {}

    def on_epoch_end(self, trainer, row):
        self.checkpointer.wait()  # the file is written on the checkpointer's thread
        assert self.checkpointer.saved_epoch == row["epoch"]
        self.copies[row["epoch"]] = self.checkpointer.path.read_bytes()


def _blobs(n=600, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=3.0, size=(4, 12))
    y = rng.randint(0, 4, size=n)
    return (centres[y] + rng.normal(size=(n, 12))).astype(np.float32), y


@pytest.mark.parametrize(
    "optimizer, options", [(Adam, {"lr": 3e-3}), (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True})]
)
def test_resuming_from_any_epoch_gives_the_uninterrupted_result(tmp_path, optimizer, options):
    X, y = _blobs()
    arch = MLP(12, [32, 16], 4, activation="relu", loss="cross-entropy", init="he", dropout=0.3)

    def new_trainer():
        network = build_mlp(arch, random_seed=3)
        return Trainer(network, optimizer(network.flat_parameters(), **options), schedule="cosine", rng=5)

    def fit(trainer, callbacks):
        trainer.fit(
            X[:400],
            y[:400],
            X_valid=X[400:],
            y_valid=y[400:],
            epochs=5,
            batch_size=20,
            progress=False,
            callbacks=callbacks,
        )

    path = tmp_path / CHECKPOINT_FILENAME
    straight = new_trainer()
    stopper = EarlyStopping(patience=50)
    checkpointer = Checkpointer(path, callbacks={"early_stopping": stopper})
    copies = KeepCopies(checkpointer)
    fit(straight, [stopper, checkpointer, copies])
    assert sorted(copies.copies) == [1, 2, 3, 4, 5]

    for epoch, content in copies.copies.items():
        path.write_bytes(content)
        checkpoint = load_checkpoint(path)
        assert checkpoint.epoch == epoch and [r["epoch"] for r in checkpoint.history] == list(range(1, epoch + 1))
        trainer, resumed_stopper = new_trainer(), EarlyStopping(patience=50)
        restore_checkpoint(trainer, checkpoint, {"early_stopping": resumed_stopper})
        assert trainer.epoch == epoch and resumed_stopper.best_epoch is not None
        fit(trainer, [resumed_stopper])
        assert trainer.network.flat_values.tobytes() == straight.network.flat_values.tobytes(), epoch
        assert trainer.history["valid_loss"] == straight.history["valid_loss"]
        assert resumed_stopper.best_epoch == stopper.best_epoch


def test_the_checkpoint_holds_the_documented_state(tmp_path):
    X, y = _blobs(n=200)
    arch = MLP(12, [8], 4, activation="tanh", loss="cross-entropy", dropout=0.5)
    network = build_mlp(arch, random_seed=1)
    trainer = Trainer(network, Adam(network.flat_parameters(), lr=1e-2), rng=2)
    trainer.fit(X, y, epochs=2, batch_size=50, progress=False)
    path = save_checkpoint(tmp_path / "c.safetensors", trainer, config={"seed": 1}, data={"n": 200})
    tensors = load_file(str(path))
    assert {
        "weights.layers.0.weight",
        "weights.layers.0.bias",
        "weights.layers.3.weight",
        "weights.layers.3.bias",
        "state.optimizer.m.0",
        "state.optimizer.v.0",
        "state.rng.shuffle.state.key",
    } <= set(tensors)
    np.testing.assert_array_equal(tensors["weights.layers.3.weight"], network.layers[3].weight)
    checkpoint = load_checkpoint(path)
    assert checkpoint.epoch == 2 and checkpoint.config == {"seed": 1} and checkpoint.data == {"n": 200}
    assert checkpoint.optimizer_state["t"] == 8 and checkpoint.lr == pytest.approx(1e-2)
    np.testing.assert_array_equal(checkpoint.optimizer_state["v"][0], trainer.optimizer.v[0])
    assert checkpoint.rng_state["bit_generator"] == "MT19937"
    np.testing.assert_array_equal(checkpoint.rng_state["state"]["key"], trainer.rng.get_state()[1])
    dropout_rng = network.layers[2].rng.bit_generator.state
    assert checkpoint.dropout_rng_states == [dropout_rng]  # 128-bit integers survive the JSON
    assert json.dumps(checkpoint.history) == json.dumps(trainer.history.rows)  # NaN for no validation


def test_checkpoints_that_do_not_fit_are_refused(tmp_path):
    X, y = _blobs(n=200)
    arch = MLP(12, [8], 4)
    network = build_mlp(arch, random_seed=1)
    trainer = Trainer(network, SGD(network.flat_parameters(), lr=0.1, momentum=0.5), rng=2)
    trainer.fit(X, y, epochs=1, batch_size=50, progress=False)
    path = save_checkpoint(tmp_path / "c.safetensors", trainer)
    other = build_mlp(arch, random_seed=1)
    plain = Trainer(other, SGD(other.flat_parameters(), lr=0.1), rng=2)  # no momentum buffers
    with pytest.raises(CheckpointError, match=r"optimizer.velocity holds 1 entries, but this run needs 0"):
        restore_checkpoint(plain, load_checkpoint(path), path=path)
    bigger = build_mlp(MLP(12, [9], 4), random_seed=1)
    with pytest.raises(CheckpointError, match=r"the weights do not fit this network"):
        restore_checkpoint(
            Trainer(bigger, SGD(bigger.flat_parameters(), lr=0.1, momentum=0.5)), load_checkpoint(path), path=path
        )
    with pytest.raises(CheckpointError, match="holds no state for the callback 'early_stopping'"):
        fresh = build_mlp(arch, random_seed=1)
        restore_checkpoint(
            Trainer(fresh, SGD(fresh.flat_parameters(), lr=0.1, momentum=0.5)),
            load_checkpoint(path),
            {"early_stopping": EarlyStopping()},
            path=path,
        )
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing-here")


# --- the divergence guard ---------------------------------------------------------------------


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, data_dir, monkeypatch):
    # a learning rate that is fine in epoch 1 and explodes in epoch 2
    monkeypatch.setitem(SCHEDULES, "explode", lambda base, epoch, epochs: base if epoch == 0 else 1e38)
    config = TrainingConfig(
        limit=1400,
        epochs=3,
        hidden=[32],
        activation="relu",
        init="he",
        loss="cross-entropy",
        lr=0.01,
        schedule="explode",
    )
    with pytest.raises(TrainingDiverged) as error:
        train_run(config, data_dir=data_dir, out=tmp_path, log=None, progress=False, figures=False)
    message = str(error.value)
    run = only_folder(tmp_path)
    assert f"at epoch 2, batch {error.value.batch} " in message and error.value.epoch == 2
    assert "try a lower learning rate" in message
    assert f"the checkpoint of the last good epoch (1) is kept in {run / CHECKPOINT_FILENAME}" in message
    checkpoint = load_checkpoint(run / CHECKPOINT_FILENAME)
    assert checkpoint.epoch == 1 and all(np.isfinite(w).all() for w in checkpoint.weights.values())
    assert not (run / "model.safetensors").exists()
    log = (run / "log.txt").read_text().splitlines()
    assert log[0].startswith("Epoch: 001/003") and log[-1] == message
    assert [row["epoch"] for row in json.loads((run / "history.json").read_text())] == [1]


def test_divergence_in_the_first_epoch_from_the_command_line(tmp_path, data_dir, capsys):
    argv = [
        "train",
        "--limit",
        "700",
        "--epochs",
        "2",
        "--activation",
        "identity",
        "--loss",
        "cross-entropy",
        "--lr",
        "1e38",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path),
        "--no-progress",
        "--no-figures",
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "training diverged: the loss became nan at epoch 1, batch " in err
    assert "try a lower learning rate, e.g. --lr 1e+37" in err and "no epoch finished" in err
    assert not (only_folder(tmp_path) / "model.safetensors").exists()


def test_a_diverging_trainer_never_checkpoints_bad_weights(tmp_path):
    X, y = _blobs(n=300)
    arch = MLP(12, [16], 4, activation="relu", loss="cross-entropy", init="he")
    network = build_mlp(arch, random_seed=0)
    trainer = Trainer(
        network,
        SGD(network.flat_parameters(), lr=0.01),
        rng=0,
        schedule=lambda base, epoch, epochs: base if epoch < 2 else 1e38,
    )
    path = tmp_path / CHECKPOINT_FILENAME
    checkpointer = Checkpointer(path)
    copies = KeepCopies(checkpointer)
    with pytest.raises(TrainingDiverged, match=r"at epoch 3, batch \d+"):
        trainer.fit(X, y, epochs=5, batch_size=30, progress=False, callbacks=[checkpointer, copies])
    checkpointer.wait()
    assert sorted(copies.copies) == [1, 2] and checkpointer.saved_epoch == 2
    assert path.read_bytes() == copies.copies[2]  # the checkpoint of epoch 2, untouched
    assert trainer.epoch == 2
    np.testing.assert_array_equal(trainer.network.flat_values, trainer.snapshot.weights)


# --- resume: what it refuses, and model files it never replaces unasked --------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("finished")
    result = train_run(
        TrainingConfig(limit=700, epochs=2), data_dir=data_dir, out=out, log=None, progress=False, figures=False
    )
    return result.path


def _state(folder: Path) -> dict:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_refuses_a_finished_run_and_options_that_change_it(finished_run, capsys):
    before = _state(finished_run)
    assert main(["train", "--resume", str(finished_run)]) == 1
    assert (
        f"{finished_run} finished training already (it holds model.safetensors); nothing to resume"
        in capsys.readouterr().err
    )
    assert main(["train", "--resume", str(finished_run), "--lr", "0.5", "--epochs", "9"]) == 2
    assert "continues that run with its own configuration and folder; drop --lr, --epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(finished_run.parent / "nope")]) == 1
    assert "run folder" in capsys.readouterr().err
    assert _state(finished_run) == before


def test_resume_refuses_a_run_without_checkpoint_or_with_another_configuration(finished_run, tmp_path, data_dir):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes((finished_run / "config.json").read_bytes())
    with pytest.raises(FileNotFoundError, match="has no checkpoint.safetensors: the run stopped before its first"):
        resume_run(run, data_dir=data_dir, log=None)
    (run / CHECKPOINT_FILENAME).write_bytes((finished_run / CHECKPOINT_FILENAME).read_bytes())
    config = json.loads((run / "config.json").read_text())
    config["config"]["lr"] = 0.5
    (run / "config.json").write_text(json.dumps(config))
    before = _state(run)
    with pytest.raises(CheckpointError, match=r"another configuration than .*config.json \(they differ in \['lr'\]\)"):
        resume_run(run, data_dir=data_dir, log=None)
    assert _state(run) == before


def test_model_out_is_never_replaced_unless_asked(finished_run, tmp_path, data_dir, capsys):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"someone's model")
    mtime = target.stat().st_mtime_ns
    argv = [
        "train",
        "--limit",
        "700",
        "--epochs",
        "1",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
        "--no-figures",
        "--quiet",
        "--model-out",
        str(target),
    ]
    assert main(argv) == 1
    assert f"{target} already exists; refusing to overwrite it (add --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"someone's model" and target.stat().st_mtime_ns == mtime
    assert not (tmp_path / "runs").exists()  # refused before any work
    assert main([*argv, "--overwrite"]) == 0
    run = only_folder(tmp_path / "runs")
    assert weights_hash(target) == weights_hash(run / "model.safetensors")
    assert main(["train", "--overwrite", "--data-dir", str(data_dir)]) == 2
    assert "--overwrite only applies to --model-out FILE" in capsys.readouterr().err


def test_a_checkpoint_written_before_a_setting_existed_still_resumes(tmp_path, data_dir):
    """A run interrupted under an older neuralnet has no key for a setting added since (here
    `shift`) in its checkpoint or its config.json: both mean the default, so it resumes."""
    from neuralnet.serving.files import read_safetensors, safetensors_bytes

    config = TrainingConfig(limit=700, epochs=2)
    uninterrupted = train_run(
        config, data_dir=data_dir, out=tmp_path / "whole", log=None, progress=False, figures=False
    ).path
    stopped = train_run(
        TrainingConfig(limit=700, epochs=1),
        data_dir=data_dir,
        out=tmp_path / "cut",
        log=None,
        progress=False,
        figures=False,
    ).path
    # make it an interrupted 2-epoch run of the older version: no model yet, no "shift" anywhere
    (stopped / "model.safetensors").unlink()
    run_config = json.loads((stopped / "config.json").read_text())
    run_config["config"].update(epochs=2)
    del run_config["config"]["shift"]
    (stopped / "config.json").write_text(json.dumps(run_config))
    tensors, header = read_safetensors(stopped / CHECKPOINT_FILENAME)
    header["config"].update(epochs=2)
    del header["config"]["shift"]
    (stopped / CHECKPOINT_FILENAME).write_bytes(safetensors_bytes(tensors, header))

    resume_run(stopped, data_dir=data_dir, log=None, progress=False, figures=False)
    assert weights_hash(stopped / "model.safetensors") == weights_hash(uninterrupted / "model.safetensors")


def test_a_checkpoint_with_an_unreadable_configuration_is_refused(finished_run, tmp_path, data_dir):
    from neuralnet.serving.files import read_safetensors, safetensors_bytes

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes((finished_run / "config.json").read_bytes())
    tensors, header = read_safetensors(finished_run / CHECKPOINT_FILENAME)
    header["config"]["warp_factor"] = 9
    (run / CHECKPOINT_FILENAME).write_bytes(safetensors_bytes(tensors, header))
    with pytest.raises(CheckpointError, match=r"configuration neuralnet cannot read: .*\['warp_factor'\]"):
        resume_run(run, data_dir=data_dir, log=None)


# --- continue: a finished run trained on to more epochs, in a new folder -----------------------------


def _weights(folder: Path) -> dict:
    return load(folder / "model.safetensors").network.state_dict()


@pytest.mark.parametrize(
    "settings, done, total",
    [
        ({}, 2, 4),
        ({"schedule": "exponential"}, 2, 4),
        ({"schedule": "step"}, 9, 12),  # across the step at epoch 10
        (
            {
                "hidden": [32],
                "activation": "relu",
                "init": "he",
                "loss": "cross-entropy",
                "optimizer": "adam",
                "lr": 0.002,
                "dropout": 0.1,
                "shift": 1,
            },
            2,
            4,
        ),  # Adam's moments, dropout's and shift's generators
        ({"lr": 0.5, "early_stopping": 3, "early_stopping_monitor": "valid_acc"}, 2, 12),  # its state goes on
    ],
    ids=["constant", "exponential", "step", "adam-dropout-shift", "early-stopping"],
)
def test_continuing_a_finished_run_equals_the_longer_run_and_leaves_it_as_it_was(
    tmp_path, data_dir, settings, done, total
):
    def run(epochs, out):
        return train_run(
            TrainingConfig(limit=700, epochs=epochs, **settings),
            data_dir=data_dir,
            out=out,
            log=None,
            progress=False,
            figures=False,
        )

    short = run(done, tmp_path / "short").path
    before = _state(short)
    lines = []
    continued = continue_run(
        short, total, data_dir=data_dir, out=tmp_path / "continued", log=lines.append, progress=False, figures=False
    )
    longer = run(total, tmp_path / "longer")
    assert _state(short) == before  # not a byte or a timestamp changed
    assert continued.path.parent == tmp_path / "continued" and continued.resumed_after_epoch == done
    assert lines[0] == f"Continuing {short} after epoch {done} to {total} epochs in {continued.path}"
    assert lines[1].startswith(f"Epoch: 001/{total:03d}")
    for name, value in _weights(longer.path).items():  # bit for bit
        np.testing.assert_array_equal(_weights(continued.path)[name], value, err_msg=name)
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in continued.history.rows] == [
        {k: v for k, v in row.items() if k != "seconds"} for row in longer.history.rows
    ]
    saved = json.loads((continued.path / "config.json").read_text())
    assert saved["config"]["epochs"] == total and saved["continued_from"] == str(short)
    assert continued.metrics["continued_after_epoch"] == done
    for key in ("test_acc", "early_stopped_at", "best_epoch"):
        assert continued.metrics.get(key) == longer.metrics.get(key), key
    if "early_stopping" in settings:  # the case is only a test if it stops after the short run's epochs
        assert done < longer.metrics["early_stopped_at"] < total


def test_continue_refuses_what_it_cannot_continue(finished_run, tmp_path, data_dir, capsys):
    before = _state(finished_run)
    with pytest.raises(ValueError, match=r"epochs must be a whole number above the 2 epochs .* has trained, got 2"):
        continue_run(finished_run, 2, data_dir=data_dir, out=tmp_path, log=None)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("config.json", CHECKPOINT_FILENAME):
        (unfinished / name).write_bytes((finished_run / name).read_bytes())
    with pytest.raises(
        FileNotFoundError, match="has not finished training .*resume it with `neuralnet train --resume`"
    ):
        continue_run(unfinished, 5, data_dir=data_dir, out=tmp_path, log=None)
    cosine = train_run(
        TrainingConfig(limit=700, epochs=1, schedule="cosine"),
        data_dir=data_dir,
        out=tmp_path / "cosine",
        log=None,
        progress=False,
        figures=False,
    ).path
    with pytest.raises(ValueError, match=r"cosine schedule, .* depends on the total number of epochs \(1\)"):
        continue_run(cosine, 3, data_dir=data_dir, out=tmp_path, log=None)
    stopped = train_run(
        TrainingConfig(limit=700, epochs=12, lr=0.5, early_stopping=1, early_stopping_monitor="valid_acc"),
        data_dir=data_dir,
        out=tmp_path / "stopped",
        log=None,
        progress=False,
        figures=False,
    )
    assert stopped.metrics.get("early_stopped_at") is not None  # patience 1 on 50 validation images
    with pytest.raises(ValueError, match=rf"stopped early at epoch {stopped.metrics['early_stopped_at']}"):
        continue_run(stopped.path, 20, data_dir=data_dir, out=tmp_path, log=None)
    for inside in (
        {"out": finished_run / "more"},
        {"model_out": finished_run / "model.safetensors", "overwrite": True},
    ):
        with pytest.raises(ValueError, match="is inside .* which continuing leaves as it is"):
            continue_run(finished_run, 3, data_dir=data_dir, log=None, **{"out": tmp_path, **inside})
    # a continued run that stops before its first new epoch is continued again, not resumed
    started = tmp_path / "started"
    started.mkdir()
    config = json.loads((finished_run / "config.json").read_text())
    (started / "config.json").write_text(
        json.dumps({**config, "config": {**config["config"], "epochs": 5}, "continued_from": str(finished_run)})
    )
    with pytest.raises(
        FileNotFoundError,
        match=rf"continue {finished_run} again with `neuralnet train --continue "
        rf"{finished_run} --epochs 5`",
    ):
        resume_run(started, data_dir=data_dir, log=None)
    # the command line: --epochs is needed, nothing else may change
    assert main(["train", "--continue", str(finished_run)]) == 2
    assert "needs --epochs N" in capsys.readouterr().err
    assert main(["train", "--continue", str(finished_run), "--epochs", "4", "--lr", "0.5"]) == 2
    assert "changing only --epochs; drop --lr" in capsys.readouterr().err
    assert main(["train", "--continue", str(finished_run), "--resume", str(finished_run)]) == 2
    assert "not both" in capsys.readouterr().err
    assert _state(finished_run) == before
    assert list(tmp_path.glob("2*")) == []  # no run folder was started by a refused call


def test_continue_from_the_command_line(finished_run, tmp_path, data_dir, capsys):
    argv = [
        "train",
        "--continue",
        str(finished_run),
        "--epochs",
        "3",
        "--data-dir",
        str(data_dir),
        "--out",
        str(tmp_path),
        "--no-progress",
        "--no-figures",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert f"Continuing {finished_run} after epoch 2 to 3 epochs in {folder}" in out
    assert "Epoch: 003/003" in out and f"Run folder: {folder}" in out
    assert [row["epoch"] for row in json.loads((folder / "history.json").read_text())] == [1, 2, 3]
