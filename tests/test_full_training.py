"""The chapter's result on the full data set: 50 epochs of the default configuration."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers import LEGACY, same_blas_as_the_legacy_fixtures

from neuralnet.cli import main
from neuralnet.runs.builder import build_network
from neuralnet.runs.config import TrainingConfig
from neuralnet.serving.modelfile import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_default_training_reaches_the_chapters_accuracy(tmp_path, data_dir, capsys):
    assert main(["train", "--data-dir", str(data_dir), "--out", str(tmp_path), "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    epoch_lines = [line for line in lines if line.startswith("Epoch: ")]
    assert len(epoch_lines) == 50 and epoch_lines[-1].startswith("Epoch: 050/050 | Train MSE: 0.01")
    # the chapter: epoch 1 at 76.17% train / 76.02% valid accuracy
    first_train_acc = float(epoch_lines[0].split("Train Acc: ")[1].split("%")[0])
    assert 74.0 < first_train_acc < 78.5
    run = next(tmp_path.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 10000
    assert metrics["test_acc"] >= 0.940  # the chapter reports 94.51%
    assert f"Test accuracy: {metrics['test_acc'] * 100:.2f}%" in lines
    # the log, line for line, is the one in the README's docs/chapter-run.log
    logged = (ROOT / "docs" / "chapter-run.log").read_text().splitlines()
    # on the screen, the network's summary comes first (not in log.txt)
    summary = build_network(TrainingConfig(), (784,), 10).summary().splitlines()
    assert lines[: len(summary)] == summary
    assert [line for line in lines[len(summary) :] if not line.startswith("Run folder")] == logged
    assert (run / "log.txt").read_text().splitlines() == logged
    # and the weights are those the code trained before the layer-stack architecture, bit for bit
    if same_blas_as_the_legacy_fixtures():
        network, _ = load_model(run)
        reference = json.loads((LEGACY / "reference_weights.json").read_text())["chapter"]
        assert hashlib.sha256(network.flat_values.tobytes()).hexdigest() == reference
