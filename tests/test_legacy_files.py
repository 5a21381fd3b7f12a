"""Files written by neuralnet 0.1 (before the layer-stack architecture) still work.

The fixtures in tests/fixtures/legacy/ were written by that version's code (see
make_legacy_fixtures.py there): two finished run folders with version-1 model files and
checkpoints, one run interrupted after its first epoch, the weights and probabilities that code
computed, and the weight hashes of the chapter's run and the deep recipe.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import LEGACY, same_blas_as_the_legacy_fixtures

import neuralnet
from neuralnet.cli import main
from neuralnet.runs.config import TrainingConfig
from neuralnet.runs.experiment import evaluate_run, resume_run, train_run
from neuralnet.serving.modelfile import load_model
from neuralnet.training.checkpoints import load_checkpoint

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def assert_same_numbers(actual, desired, rtol: float) -> None:
    """Bit for bit on the BLAS and core type the fixtures were made with; elsewhere the products
    round differently in their last bits (OpenBLAS's kernels for each core type add in other
    orders), so within ``rtol``."""
    if same_blas_as_the_legacy_fixtures():
        np.testing.assert_array_equal(actual, desired)
    else:
        np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.abs(desired).max())


@pytest.fixture(scope="module")
def expected():
    with np.load(LEGACY / "expected.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("name", ["v1-chapter", "v1-deep"])
def test_version_1_model_files_load_with_the_same_weights_and_answers(name, expected):
    network, header = load_model(LEGACY / name)
    assert header["format_version"] == 1 and header["architecture"]["input_shape"] == [784]
    np.testing.assert_array_equal(network.flat_values, expected[f"{name}/weights"])
    probabilities = neuralnet.load(LEGACY / name).predict_proba(expected["pixels"])
    assert_same_numbers(probabilities, expected[f"{name}/probabilities"], rtol=1e-5)


def test_a_version_1_architecture_becomes_the_stack_it_was():
    _, header = load_model(LEGACY / "v1-deep")
    assert [spec["type"] for spec in header["architecture"]["layers"]] == [
        "RandomShift",
        "Dense",
        "Activation",
        "Dropout",
        "Dense",
        "Activation",
        "Dropout",
        "Dense",
    ]
    assert header["architecture"]["layers"][1] == {"type": "Dense", "n_in": 784, "n_out": 32, "init": "he"}
    assert header["architecture"]["loss"] == "cross-entropy"


@pytest.mark.parametrize("name", ["v1-chapter", "v1-deep", "v1-interrupted"])
def test_version_1_checkpoints_load(name):
    checkpoint = load_checkpoint(LEGACY / name)
    assert checkpoint.epoch == (1 if name == "v1-interrupted" else 2)
    assert checkpoint.architecture["input_shape"] == [784]


def test_an_interrupted_version_1_run_resumes_to_the_weights_the_old_code_reached(tmp_path, data_dir, expected):
    run = tmp_path / "v1-interrupted"
    shutil.copytree(LEGACY / "v1-interrupted", run)
    result = resume_run(run, data_dir=data_dir, log=None, progress=False, figures=False)
    assert result.resumed_after_epoch == 1 and len(result.history) == 3
    assert_same_numbers(result.network.flat_values, expected["v1-interrupted/weights"], rtol=1e-4)
    # the finished run's model file is of the current version
    _, header = load_model(run)
    assert header["format_version"] == 2


def test_version_1_run_folders_evaluate_and_continue(tmp_path, data_dir, capsys):
    old = json.loads((LEGACY / "v1-chapter" / "metrics.json").read_text())
    assert evaluate_run(LEGACY / "v1-chapter", data_dir=data_dir)["test_acc"] == old["test_acc"]
    assert (
        main(
            [
                "train",
                "--continue",
                str(LEGACY / "v1-chapter"),
                "--epochs",
                "3",
                "--data-dir",
                str(data_dir),
                "--out",
                str(tmp_path),
                "--no-figures",
                "--no-progress",
            ]
        )
        == 0
    )
    # the same as a 3-epoch run from the start with today's code
    longer = train_run(
        TrainingConfig(limit=700, epochs=3, hidden=[16]),
        data_dir=data_dir,
        out=tmp_path / "fresh",
        log=None,
        progress=False,
        figures=False,
    )
    continued, _ = load_model(next(p for p in tmp_path.iterdir() if p.name != "fresh"))
    assert_same_numbers(continued.flat_values, longer.network.flat_values, rtol=1e-4)


def _weights_sha256(config: TrainingConfig, data_dir, out: Path) -> str:
    result = train_run(config, data_dir=data_dir, out=out, log=None, progress=False, figures=False)
    return hashlib.sha256(result.network.flat_values.tobytes()).hexdigest()


@pytest.mark.slow
def test_the_deep_recipe_trains_the_weights_it_trained_before_the_layer_stacks(tmp_path, data_dir):
    if not same_blas_as_the_legacy_fixtures():
        pytest.skip("another BLAS or core type than the one the reference hashes were made with")
    reference = json.loads((LEGACY / "reference_weights.json").read_text())
    config = TrainingConfig.from_toml(RECIPES / "mnist-deep.toml")
    assert _weights_sha256(config, data_dir, tmp_path) == reference["mnist-deep"]
