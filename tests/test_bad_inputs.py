"""A catalogue of bad inputs to the Python API and the command line.

Each one must fail with an error that names the bad value and what was expected, and leave
every existing file exactly as it was (same bytes, same modification time, no file added or
removed): the model files, run folder, ONNX file and data folders of the ``world`` below.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import MLP, build_mlp

from neuralnet.cli import main
from neuralnet.datasets import DataNotFoundError, IDXFormatError, load_mnist, read_idx
from neuralnet.datasets.preprocessing import scale_pixels
from neuralnet.engine.optim import SGD
from neuralnet.runs.config import ConfigError, TrainingConfig
from neuralnet.runs.experiment import train_run
from neuralnet.serving.files import ModelFileError
from neuralnet.serving.modelfile import save_model
from neuralnet.serving.onnx_export import export_onnx
from neuralnet.serving.predictor import load
from neuralnet.training import EarlyStopping, Trainer

DATA_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, data_dir):
    """Files a user has: a model file, a finished run folder, an ONNX file, data folders."""
    root = tmp_path_factory.mktemp("world")
    mnist = Path(data_dir) / "mnist"
    arch = MLP(784, [8], 10)
    network = build_mlp(arch, random_seed=0)
    model = save_model(root / "model.safetensors", network)
    content = bytearray(model.read_bytes())
    content[40:60] = b"\xff" * 20  # inside the safetensors header
    (root / "corrupt.safetensors").write_bytes(bytes(content))
    (root / "truncated.safetensors").write_bytes(model.read_bytes()[:-100])
    run = train_run(TrainingConfig(limit=700, epochs=1, hidden=[8]), data_dir=data_dir, out=root / "runs",
                    log=None, progress=False, figures=False).path
    bad_run = root / "bad-run"
    shutil.copytree(run, bad_run)
    (bad_run / "model.safetensors").write_bytes(bytes(content))
    onnx_file = export_onnx(model, root / "model.onnx")
    missing_one = root / "data-missing-one" / "mnist"
    missing_one.mkdir(parents=True)
    for name in DATA_FILES[:1] + DATA_FILES[2:]:  # no train-labels
        (missing_one / name).symlink_to(mnist / name)
    corrupt = root / "data-corrupt" / "mnist"
    corrupt.mkdir(parents=True)
    for name in DATA_FILES[1:]:
        (corrupt / name).symlink_to(mnist / name)
    (corrupt / DATA_FILES[0]).write_bytes(b"\x1f\x8b" + b"definitely not deflate data" * 10)
    X, y = load_mnist(data_dir=data_dir, download=False)
    return SimpleNamespace(
        root=root, model=model, corrupt=root / "corrupt.safetensors", truncated=root / "truncated.safetensors",
        run=run, bad_run=bad_run, onnx=onnx_file, missing_one=missing_one.parent, corrupt_data=corrupt.parent,
        network=network, arch=arch, predictor=load(model),
        X=scale_pixels(X[:100]), y=y[:100].copy(), pixels=X[:5].copy())


def state(root: Path) -> dict:
    """Every path under root, with the bytes and modification time of each file (not following
    links to the shared data, which are read-only anyway)."""
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            result[path] = (path.read_bytes(), path.stat().st_mtime_ns)
        else:
            result[path] = None
    return result


def fit(w, X=None, y=None, **options):
    network = build_mlp(w.arch, random_seed=1)
    trainer = Trainer(network, SGD(network.flat_parameters(), lr=0.1), rng=0)
    options = {"epochs": 1, "batch_size": 10, "progress": False, **options}
    return trainer.fit(w.X if X is None else X, w.y if y is None else y, **options)


def with_value(array, index, value):
    array = np.array(array, dtype=np.result_type(array, type(value)))
    array[index] = value
    return array


# (id, call, exception type, message that names the bad value and what was expected)
PYTHON_CASES = [
    ("wrong-number-of-features", lambda w: fit(w, X=w.X[:, :783]), ValueError,
     r"X_train has 783 features, but the network expects 784"),
    ("nan-in-X", lambda w: fit(w, X=with_value(w.X, (3, 5), np.nan)), ValueError,
     r"X_train contains nan at row 3, column 5: expected finite numbers"),
    ("inf-in-X", lambda w: fit(w, X=with_value(w.X, (7, 0), -np.inf)), ValueError,
     r"X_train contains -inf at row 7, column 0: expected finite numbers"),
    ("label-out-of-range", lambda w: fit(w, y=with_value(w.y, 4, 10)), ValueError,
     r"y_train: label 10 is out of range: expected integers in \[0, 9\]"),
    ("negative-label", lambda w: fit(w, y=with_value(w.y, 0, -1)), ValueError,
     r"label -1 is out of range: expected integers in \[0, 9\]"),
    ("single-class", lambda w: fit(w, y=np.full(100, 3)), ValueError,
     r"y_train holds a single class \(3\): a classifier needs examples of at least two of the 10 classes"),
    ("empty-arrays", lambda w: fit(w, X=w.X[:0], y=w.y[:0]), ValueError,
     r"X_train is empty \(shape \(0, 784\)\): expected at least one example"),
    ("1-D-X", lambda w: fit(w, X=w.X[0], y=w.y[:1]), ValueError,
     r"X_train must be 2-D \[n_examples, 784\], got shape \(784,\); for a single example use X.reshape\(1, -1\)"),
    ("X-and-y-of-different-lengths", lambda w: fit(w, y=w.y[:99]), ValueError,
     r"X_train has 100 examples but y_train has 99"),
    ("X-of-strings", lambda w: fit(w, X=w.X.astype(str)), TypeError,
     r"X_train must hold numbers \(floats, or integer pixels\), got an array of dtype <U\d+"),
    ("fractional-labels", lambda w: fit(w, y=with_value(w.y, 2, 1.5)), ValueError,
     r"label 1.5 is not an integer: expected integers in \[0, 9\]"),
    ("labels-of-strings", lambda w: fit(w, y=w.y.astype(str)), TypeError,
     r"y_train: labels must be integers 0..9, got an array of dtype <U\d+"),
    ("nan-in-X_valid", lambda w: fit(w, X_valid=with_value(w.X[:20], (1, 1), np.nan), y_valid=w.y[:20]),
     ValueError, r"X_valid contains nan at row 1, column 1"),
    ("X_valid-without-y_valid", lambda w: fit(w, X_valid=w.X[:20]), ValueError,
     r"give both X_valid and y_valid, or neither"),
    ("zero-batch-size", lambda w: fit(w, batch_size=0), ValueError, r"batch_size must be a positive integer, got 0"),
    ("negative-learning-rate", lambda w: SGD(w.network.flat_parameters(), lr=-0.1), ValueError,
     r"learning rate must be a finite number > 0, got -0.1"),
    ("zero-hidden-units", lambda w: build_mlp(MLP(784, [0], 10)), ValueError,
     r"layer 0 of the stack \(examples of shape \(784,\) from the input\): Dense layer .*n_out must be a positive "
     r"integer, got 0"),
    ("dropout-of-one", lambda w: build_mlp(MLP(784, [8], 10, dropout=1.0)), ValueError,
     r"layer 2 of the stack .*: Dropout layer \{'p': 1.0\}: dropout probability must be in \[0, 1\), got 1.0"),
    ("config-negative-lr", lambda w: TrainingConfig(lr=-0.1), ConfigError,
     r"lr = -0.1 is invalid: expected a number > 0"),
    ("config-zero-hidden", lambda w: TrainingConfig(hidden=[50, 0]), ConfigError,
     r"hidden = \[50, 0\] is invalid: expected a list of positive integers"),
    ("config-dropout-1", lambda w: TrainingConfig(dropout=1.0), ConfigError,
     r"dropout = 1.0 is invalid: expected a probability in \[0, 1\)"),
    ("early-stopping-patience-0", lambda w: EarlyStopping(patience=0), ValueError,
     r"patience must be a positive integer, got 0"),
    ("predict-wrong-features", lambda w: w.network.predict(w.X[:, :10]), ValueError,
     r"X has 10 features, but the network expects 784"),
    ("pixels-wrong-features", lambda w: w.predictor.predict(w.pixels[:2, :783]), ValueError,
     r"pixels must have shape \(n, 784\), got \(2, 783\)"),
    ("pixels-out-of-range", lambda w: w.predictor.predict_proba(with_value(w.pixels, (0, 0), 300.0)), ValueError,
     r"pixel values must be in \[0, 255\], got values from 0.0 to 300.0"),
    ("pixels-nan", lambda w: w.predictor.predict(with_value(w.pixels, (1, 2), np.nan)), ValueError,
     r"pixels contain NaN or infinite values; expected numbers in \[0, 255\]"),
    ("pixels-boolean", lambda w: w.predictor.predict(w.pixels > 0), TypeError,
     r"pixels must be numbers in \[0, 255\] \(uint8 or float\), got an array of dtype bool"),
    ("scale-float-pixels", lambda w: scale_pixels(w.X), TypeError,
     r"expected uint8 pixel values 0..255, got an array of dtype float32"),
    ("scale-out-of-range", lambda w: scale_pixels(np.array([[-1, 256]])), ValueError,
     r"expected pixel values in 0..255, got values from -1 to 256"),
    ("corrupted-model-file", lambda w: load(w.corrupt), ModelFileError,
     r"corrupt.safetensors is not a readable safetensors file \(truncated or corrupted\?\)"),
    ("truncated-model-file", lambda w: load(w.truncated), ModelFileError,
     r"truncated.safetensors is not a readable safetensors file \(truncated or corrupted\?\)"),
    ("model-file-missing", lambda w: load(w.root / "nope.safetensors"), FileNotFoundError,
     r"no model file at .*nope.safetensors \(expected a run folder or a .safetensors file\)"),
    ("save-over-a-model", lambda w: save_model(w.model, w.network), FileExistsError,
     r"model.safetensors already exists; refusing to overwrite it \(pass overwrite=True"),
    ("export-over-an-onnx-file", lambda w: export_onnx(w.model, w.onnx), FileExistsError,
     r"model.onnx already exists; refusing to overwrite it \(add --overwrite, or overwrite=True"),
    ("data-folder-missing-one-file", lambda w: load_mnist(w.missing_one, download=False), DataNotFoundError,
     r"data-missing-one/mnist: missing train-labels-idx1-ubyte.gz(.|\n)*Put the four files"),
    ("data-folder-missing", lambda w: load_mnist(w.root / "no-data", download=False), DataNotFoundError,
     r"no-data/mnist: folder does not exist"),
    ("corrupted-data-file", lambda w: read_idx(w.corrupt_data / "mnist" / DATA_FILES[0]), IDXFormatError,
     r"data-corrupt/mnist/train-images-idx3-ubyte.gz: corrupt gzip data .*expected a valid gzip-compressed IDX"),
    ("data-folder-with-a-corrupted-file", lambda w: load_mnist(w.corrupt_data, download=False), IDXFormatError,
     r"train-images-idx3-ubyte.gz: corrupt gzip data"),
]

# (id, argv from the world, exit status, message on stderr)
CLI_CASES = [
    ("train-negative-lr", lambda w: ["train", "--lr", "-0.1"], 1, r"lr = -0.1 is invalid: expected a number > 0"),
    ("train-zero-hidden-units", lambda w: ["train", "--hidden", "0"], 1,
     r"hidden = \[0\] is invalid: expected a list of positive integers"),
    ("train-dropout-1", lambda w: ["train", "--dropout", "1"], 1,
     r"dropout = 1.0 is invalid: expected a probability in \[0, 1\)"),
    ("train-zero-batch", lambda w: ["train", "--batch-size", "0"], 1,
     r"batch_size = 0 is invalid: expected a positive integer"),
    ("train-tiny-limit", lambda w: ["train", "--limit", "10"], 1, r"limit = 10 is invalid: expected .*at least 700"),
    ("train-unknown-activation", lambda w: ["train", "--activation", "swish"], 2, r"invalid choice: 'swish'"),
    ("train-data-missing-one-file", lambda w: ["train", "--data-dir", str(w.missing_one)], 1,
     r"missing train-labels-idx1-ubyte.gz"),
    ("train-corrupted-data", lambda w: ["train", "--data-dir", str(w.corrupt_data)], 1,
     r"train-images-idx3-ubyte.gz: corrupt gzip data"),
    ("train-model-out-exists", lambda w: ["train", "--model-out", str(w.model)], 1,
     r"model.safetensors already exists; refusing to overwrite it \(add --overwrite"),
    ("resume-a-finished-run", lambda w: ["train", "--resume", str(w.run)], 1,
     r"finished training already \(it holds model.safetensors\); nothing to resume"),
    ("evaluate-corrupted-model", lambda w: ["evaluate", str(w.bad_run)], 1,
     r"bad-run/model.safetensors is not a readable safetensors file"),
    ("evaluate-missing-run", lambda w: ["evaluate", str(w.root / "no-run")], 1, r"run folder .*no-run does not exist"),
    ("export-over-an-onnx-file", lambda w: ["export", str(w.run), "--onnx", str(w.onnx)], 1,
     r"model.onnx already exists; refusing to overwrite it"),
    ("export-a-corrupted-model", lambda w: ["export", str(w.corrupt), "--onnx", str(w.root / "new.onnx")], 1,
     r"corrupt.safetensors is not a readable safetensors file"),
]


def test_the_catalogue_is_long_enough():
    assert len(PYTHON_CASES) + len(CLI_CASES) >= 25
    assert len({case[0] for case in PYTHON_CASES}) == len(PYTHON_CASES)


@pytest.fixture
def no_fallback_data(monkeypatch, tmp_path):
    """Only the folders a case names: no $NEURALNET_DATA_DIR, an empty cache, no download."""
    monkeypatch.delenv("NEURALNET_DATA_DIR", raising=False)
    monkeypatch.setenv("NEURALNET_CACHE_DIR", str(tmp_path / "empty-cache"))


@pytest.mark.parametrize("call, error, message", [case[1:] for case in PYTHON_CASES],
                         ids=[case[0] for case in PYTHON_CASES])
def test_python_api_refuses_bad_input(world, no_fallback_data, call, error, message):
    before = state(world.root)
    with pytest.raises(error, match=message):
        call(world)
    assert state(world.root) == before


@pytest.mark.parametrize("argv, status, message", [case[1:] for case in CLI_CASES],
                         ids=[case[0] for case in CLI_CASES])
def test_command_line_refuses_bad_input(world, no_fallback_data, capsys, argv, status, message):
    argv = argv(world)
    if argv[0] == "train" and "--resume" not in argv:
        argv += ["--out", str(world.root / "new-runs"), "--no-download", "--no-progress", "--limit", "700"] \
            if "--limit" not in argv else ["--out", str(world.root / "new-runs"), "--no-download"]
    before = state(world.root)
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    captured = capsys.readouterr()
    assert code == status, captured
    assert re.search(message, captured.err), captured.err
    assert state(world.root) == before
    assert not (world.root / "new-runs").exists() or not any((world.root / "new-runs").iterdir())


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_data_file_is_named(world, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    unreadable = folder / DATA_FILES[0]
    unreadable.write_bytes(b"x")
    unreadable.chmod(0)
    try:
        with pytest.raises(IDXFormatError, match=r"train-images-idx3-ubyte.gz: cannot read the file"):
            read_idx(unreadable)
    finally:
        unreadable.chmod(0o600)
