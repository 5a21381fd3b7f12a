"""A catalogue of bad inputs to the Python API and the command line.

Each one must fail with an error that names the bad value and what was expected, and leave
every existing file exactly as it was (same bytes, same modification time, no file added or
removed): the model files, run folder, ONNX file and data folders of the ``world`` below.
"""

from __future__ import annotations

import json
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
from neuralnet.runs.experiment import evaluate_run, train_run
from neuralnet.runs.folders import RunFolderError
from neuralnet.serving.files import ModelFileError, read_safetensors, safetensors_bytes
from neuralnet.serving.modelfile import save_model
from neuralnet.serving.onnx_export import export_onnx
from neuralnet.serving.predictor import load
from neuralnet.training import EarlyStopping, Trainer
from neuralnet.training.checkpoints import CheckpointError, load_checkpoint
from neuralnet.web import create_app

DATA_FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


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
    run = train_run(
        TrainingConfig(limit=700, epochs=1, hidden=[8]),
        data_dir=data_dir,
        out=root / "runs",
        log=None,
        progress=False,
        figures=False,
    ).path
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
    # the audit's files (issue 20): a TOML file with a table, run folders with config.json of the
    # wrong shape, a run whose config.json names another data set, an interrupted run whose
    # checkpoint holds an out-of-range generator state, models with headers off the schema
    (root / "tabled.toml").write_text("hidden = [8]\n[train]\nepochs = 2\n")
    shaped = {}
    for name, document in (("list", [1]), ("no-config", {"x": 1}), ("data-dir-number", None)):
        folder = root / f"shape-{name}"
        shutil.copytree(run, folder)
        if document is None:
            document = json.loads((run / "config.json").read_text())
            document["data_dir"] = 12345
        (folder / "config.json").write_text(json.dumps(document))
        shaped[name] = folder
    edited = root / "edited-run"
    shutil.copytree(run, edited)
    document = json.loads((run / "config.json").read_text())
    document["config"]["dataset"] = "fashion-mnist"
    (edited / "config.json").write_text(json.dumps(document))
    far_rng = root / "far-rng"
    shutil.copytree(run, far_rng)
    (far_rng / "model.safetensors").unlink()
    tensors, header = read_safetensors(far_rng / "checkpoint.safetensors")
    header["rng"]["shuffle"]["state"]["pos"] = 10**12
    (far_rng / "checkpoint.safetensors").write_bytes(safetensors_bytes(tensors, header))
    odd_headers = {}
    for name, change in (
        ("preprocessing-number", ("preprocessing", {"name": 7})),
        ("nested-classes", ("classes", [[k] for k in range(10)])),
    ):
        tensors, header = read_safetensors(model)
        header[change[0]] = change[1]
        odd_headers[name] = root / f"{name}.safetensors"
        odd_headers[name].write_bytes(safetensors_bytes(tensors, header))
    return SimpleNamespace(
        root=root,
        model=model,
        corrupt=root / "corrupt.safetensors",
        truncated=root / "truncated.safetensors",
        run=run,
        bad_run=bad_run,
        onnx=onnx_file,
        missing_one=missing_one.parent,
        corrupt_data=corrupt.parent,
        network=network,
        arch=arch,
        predictor=load(model),
        data=Path(data_dir),
        X=scale_pixels(X[:100]),
        y=y[:100].copy(),
        pixels=X[:5].copy(),
        tabled=root / "tabled.toml",
        shaped=shaped,
        edited=edited,
        far_rng=far_rng,
        odd_headers=odd_headers,
    )


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
    (
        "wrong-number-of-features",
        lambda w: fit(w, X=w.X[:, :783]),
        ValueError,
        r"X_train has 783 features, but the network expects 784",
    ),
    (
        "nan-in-X",
        lambda w: fit(w, X=with_value(w.X, (3, 5), np.nan)),
        ValueError,
        r"X_train contains nan at row 3, column 5: expected finite numbers",
    ),
    (
        "inf-in-X",
        lambda w: fit(w, X=with_value(w.X, (7, 0), -np.inf)),
        ValueError,
        r"X_train contains -inf at row 7, column 0: expected finite numbers",
    ),
    (
        "label-out-of-range",
        lambda w: fit(w, y=with_value(w.y, 4, 10)),
        ValueError,
        r"y_train: label 10 is out of range: expected integers in \[0, 9\]",
    ),
    (
        "negative-label",
        lambda w: fit(w, y=with_value(w.y, 0, -1)),
        ValueError,
        r"label -1 is out of range: expected integers in \[0, 9\]",
    ),
    (
        "single-class",
        lambda w: fit(w, y=np.full(100, 3)),
        ValueError,
        r"y_train holds a single class \(3\): a classifier needs examples of at least two of the 10 classes",
    ),
    (
        "empty-arrays",
        lambda w: fit(w, X=w.X[:0], y=w.y[:0]),
        ValueError,
        r"X_train is empty \(shape \(0, 784\)\): expected at least one example",
    ),
    (
        "1-D-X",
        lambda w: fit(w, X=w.X[0], y=w.y[:1]),
        ValueError,
        r"X_train must be 2-D \[n_examples, 784\], got shape \(784,\); for a single example use X.reshape\(1, -1\)",
    ),
    (
        "X-and-y-of-different-lengths",
        lambda w: fit(w, y=w.y[:99]),
        ValueError,
        r"X_train has 100 examples but y_train has 99",
    ),
    (
        "X-of-strings",
        lambda w: fit(w, X=w.X.astype(str)),
        TypeError,
        r"X_train must hold numbers \(floats, or integer pixels\), got an array of dtype <U\d+",
    ),
    (
        "fractional-labels",
        lambda w: fit(w, y=with_value(w.y, 2, 1.5)),
        ValueError,
        r"label 1.5 is not an integer: expected integers in \[0, 9\]",
    ),
    (
        "labels-of-strings",
        lambda w: fit(w, y=w.y.astype(str)),
        TypeError,
        r"y_train: labels must be integers 0..9, got an array of dtype <U\d+",
    ),
    (
        "nan-in-X_valid",
        lambda w: fit(w, X_valid=with_value(w.X[:20], (1, 1), np.nan), y_valid=w.y[:20]),
        ValueError,
        r"X_valid contains nan at row 1, column 1",
    ),
    (
        "X_valid-without-y_valid",
        lambda w: fit(w, X_valid=w.X[:20]),
        ValueError,
        r"give both X_valid and y_valid, or neither",
    ),
    ("zero-batch-size", lambda w: fit(w, batch_size=0), ValueError, r"batch_size must be a positive integer, got 0"),
    (
        "negative-learning-rate",
        lambda w: SGD(w.network.flat_parameters(), lr=-0.1),
        ValueError,
        r"learning rate must be a finite number > 0, got -0.1",
    ),
    (
        "zero-hidden-units",
        lambda w: build_mlp(MLP(784, [0], 10)),
        ValueError,
        r"layer 0 of the stack \(examples of shape \(784,\) from the input\): Dense layer .*n_out must be a positive "
        r"integer, got 0",
    ),
    (
        "dropout-of-one",
        lambda w: build_mlp(MLP(784, [8], 10, dropout=1.0)),
        ValueError,
        r"layer 2 of the stack .*: Dropout layer \{'p': 1.0\}: dropout probability must be in \[0, 1\), got 1.0",
    ),
    (
        "config-negative-lr",
        lambda w: TrainingConfig(lr=-0.1),
        ConfigError,
        r"lr = -0.1 is invalid: expected a number > 0",
    ),
    (
        "config-zero-hidden",
        lambda w: TrainingConfig(hidden=[50, 0]),
        ConfigError,
        r"hidden = \[50, 0\] is invalid: expected a list of positive integers",
    ),
    (
        "config-dropout-1",
        lambda w: TrainingConfig(dropout=1.0),
        ConfigError,
        r"dropout = 1.0 is invalid: expected a probability in \[0, 1\)",
    ),
    (
        "early-stopping-patience-0",
        lambda w: EarlyStopping(patience=0),
        ValueError,
        r"patience must be a positive integer, got 0",
    ),
    (
        "predict-wrong-features",
        lambda w: w.network.predict(w.X[:, :10]),
        ValueError,
        r"X has 10 features, but the network expects 784",
    ),
    (
        "pixels-wrong-features",
        lambda w: w.predictor.predict(w.pixels[:2, :783]),
        ValueError,
        r"pixels must have shape \(n, 784\), got \(2, 783\)",
    ),
    (
        "pixels-out-of-range",
        lambda w: w.predictor.predict_proba(with_value(w.pixels, (0, 0), 300.0)),
        ValueError,
        r"pixel values must be in \[0, 255\], got values from 0.0 to 300.0",
    ),
    (
        "pixels-nan",
        lambda w: w.predictor.predict(with_value(w.pixels, (1, 2), np.nan)),
        ValueError,
        r"pixels contain NaN or infinite values; expected numbers in \[0, 255\]",
    ),
    (
        "pixels-boolean",
        lambda w: w.predictor.predict(w.pixels > 0),
        TypeError,
        r"pixels must be numbers in \[0, 255\] \(uint8 or float\), got an array of dtype bool",
    ),
    (
        "scale-float-pixels",
        lambda w: scale_pixels(w.X),
        TypeError,
        r"expected uint8 pixel values 0..255, got an array of dtype float32",
    ),
    (
        "scale-out-of-range",
        lambda w: scale_pixels(np.array([[-1, 256]])),
        ValueError,
        r"expected pixel values in 0..255, got values from -1 to 256",
    ),
    (
        "corrupted-model-file",
        lambda w: load(w.corrupt),
        ModelFileError,
        r"corrupt.safetensors is not a readable safetensors file \(truncated or corrupted\?\)",
    ),
    (
        "truncated-model-file",
        lambda w: load(w.truncated),
        ModelFileError,
        r"truncated.safetensors is not a readable safetensors file \(truncated or corrupted\?\)",
    ),
    (
        "model-file-missing",
        lambda w: load(w.root / "nope.safetensors"),
        FileNotFoundError,
        r"no model file at .*nope.safetensors \(expected a run folder or a .safetensors file\)",
    ),
    (
        "save-over-a-model",
        lambda w: save_model(w.model, w.network),
        FileExistsError,
        r"model.safetensors already exists; refusing to overwrite it \(pass overwrite=True",
    ),
    (
        "export-over-an-onnx-file",
        lambda w: export_onnx(w.model, w.onnx),
        FileExistsError,
        r"model.onnx already exists; refusing to overwrite it \(add --overwrite, or overwrite=True",
    ),
    (
        "data-folder-missing-one-file",
        lambda w: load_mnist(w.missing_one, download=False),
        DataNotFoundError,
        r"data-missing-one/mnist: missing train-labels-idx1-ubyte.gz(.|\n)*Put the four files",
    ),
    (
        "data-folder-missing",
        lambda w: load_mnist(w.root / "no-data", download=False),
        DataNotFoundError,
        r"no-data/mnist: folder does not exist",
    ),
    (
        "corrupted-data-file",
        lambda w: read_idx(w.corrupt_data / "mnist" / DATA_FILES[0]),
        IDXFormatError,
        r"data-corrupt/mnist/train-images-idx3-ubyte.gz: corrupt gzip data .*expected a valid gzip-compressed IDX",
    ),
    (
        "data-folder-with-a-corrupted-file",
        lambda w: load_mnist(w.corrupt_data, download=False),
        IDXFormatError,
        r"train-images-idx3-ubyte.gz: corrupt gzip data",
    ),
    # the fault audit (issue 20), its number first
    (
        "audit-2-toml-table",
        lambda w: TrainingConfig.from_toml(w.tabled),
        ConfigError,
        r"tabled.toml: \[train\] is a table, but neuralnet reads the settings as keys at the top of the file .*"
        r"move \['epochs'\] out of \[train\]",
    ),
    (
        "audit-4-preprocessing-number",
        lambda w: load(w.odd_headers["preprocessing-number"]),
        ModelFileError,
        r"preprocessing-number.safetensors: preprocessing 7 is not supported; expected one of "
        r"\['chapter', 'standardize'\]",
    ),
    (
        "audit-4-nested-classes",
        lambda w: load(w.odd_headers["nested-classes"]),
        ModelFileError,
        r"nested-classes.safetensors: 'classes' must list 10 labels \(strings or numbers\), got \[\[0\], \[1\]",
    ),
    (
        "audit-5-config-a-list",
        lambda w: evaluate_run(w.shaped["list"], data_dir=w.data),
        RunFolderError,
        r"shape-list/config.json is not a run's configuration: expected a JSON object, got list \[1\]",
    ),
    (
        "audit-5-serve-a-damaged-run",
        lambda w: create_app(w.shaped["no-config"]),
        RunFolderError,
        r"shape-no-config/config.json is not a run's configuration: expected \"config\": \{...the settings...\}, "
        r"got keys \['x'\]",
    ),
    (
        "audit-6-checkpoint-generator-out-of-range",
        lambda w: load_checkpoint(w.far_rng),
        CheckpointError,
        r"far-rng/checkpoint.safetensors: a random generator's state cannot be restored \(OverflowError",
    ),
    (
        "audit-8-evaluate-other-data",
        lambda w: evaluate_run(w.edited, data_dir=w.data),
        RunFolderError,
        r"config.json says dataset = 'fashion-mnist', but the model was trained with dataset = 'mnist'.*"
        r"--allow-other-data",
    ),
    (
        "audit-9-seed-too-large",
        lambda w: TrainingConfig(seed=2**32),
        ConfigError,
        r"seed = 4294967296 is invalid: expected an integer from 0 to 4294967295",
    ),
    (
        "audit-11-too-many-epochs",
        lambda w: TrainingConfig(epochs=10**6),
        ConfigError,
        r"epochs = 1000000 is invalid: expected a positive integer up to 100,000",
    ),
]

# (id, argv from the world, exit status, message on stderr)
CLI_CASES = [
    ("train-negative-lr", lambda w: ["train", "--lr", "-0.1"], 1, r"lr = -0.1 is invalid: expected a number > 0"),
    (
        "train-zero-hidden-units",
        lambda w: ["train", "--hidden", "0"],
        1,
        r"hidden = \[0\] is invalid: expected a list of positive integers",
    ),
    (
        "train-dropout-1",
        lambda w: ["train", "--dropout", "1"],
        1,
        r"dropout = 1.0 is invalid: expected a probability in \[0, 1\)",
    ),
    (
        "train-zero-batch",
        lambda w: ["train", "--batch-size", "0"],
        1,
        r"batch_size = 0 is invalid: expected a positive integer",
    ),
    ("train-tiny-limit", lambda w: ["train", "--limit", "10"], 1, r"limit = 10 is invalid: expected .*at least 700"),
    ("train-unknown-activation", lambda w: ["train", "--activation", "swish"], 2, r"invalid choice: 'swish'"),
    (
        "train-data-missing-one-file",
        lambda w: ["train", "--data-dir", str(w.missing_one)],
        1,
        r"missing train-labels-idx1-ubyte.gz",
    ),
    (
        "train-corrupted-data",
        lambda w: ["train", "--data-dir", str(w.corrupt_data)],
        1,
        r"train-images-idx3-ubyte.gz: corrupt gzip data",
    ),
    (
        "train-model-out-exists",
        lambda w: ["train", "--model-out", str(w.model)],
        1,
        r"model.safetensors already exists; refusing to overwrite it \(add --overwrite",
    ),
    (
        "resume-a-finished-run",
        lambda w: ["train", "--resume", str(w.run)],
        1,
        r"finished training already \(it holds model.safetensors\); nothing to resume",
    ),
    (
        "evaluate-corrupted-model",
        lambda w: ["evaluate", str(w.bad_run)],
        1,
        r"bad-run/model.safetensors is not a readable safetensors file",
    ),
    ("evaluate-missing-run", lambda w: ["evaluate", str(w.root / "no-run")], 1, r"run folder .*no-run does not exist"),
    (
        "export-over-an-onnx-file",
        lambda w: ["export", str(w.run), "--onnx", str(w.onnx)],
        1,
        r"model.onnx already exists; refusing to overwrite it",
    ),
    (
        "export-a-corrupted-model",
        lambda w: ["export", str(w.corrupt), "--onnx", str(w.root / "new.onnx")],
        1,
        r"corrupt.safetensors is not a readable safetensors file",
    ),
    # the fault audit (issue 20), its number first
    (
        "audit-1-model-out-in-a-file",
        lambda w: ["train", "--model-out", str(w.model / "m.safetensors")],
        1,
        r"--model-out .*model.safetensors/m.safetensors: .*model.safetensors is a file, so no folder can be made there",
    ),
    ("audit-2-toml-table", lambda w: ["train", "--config", str(w.tabled)], 1, r"\[train\] is a table"),
    *(
        (
            f"audit-5-{command}-{name}",
            (
                lambda w, c=command, n=name: (
                    ["train", c, str(w.shaped[n])] + (["--epochs", "3"] if c == "--continue" else [])
                    if c.startswith("--")
                    else [c, str(w.shaped[n]), "--data-dir", str(w.data)]
                )
            ),
            1,
            r"config.json is not a run's configuration",
        )
        for command in ("evaluate", "figures", "--resume", "--continue")
        for name in ("list", "no-config")
    ),
    (
        "audit-5-data-dir-a-number",
        lambda w: ["evaluate", str(w.shaped["data-dir-number"])],
        1,
        r"config.json is not a run's configuration: \"data_dir\" is 12345; expected text or null",
    ),
    (
        "audit-6-resume-generator-out-of-range",
        lambda w: ["train", "--resume", str(w.far_rng), "--data-dir", str(w.data)],
        1,
        r"a random generator's state cannot be restored \(OverflowError",
    ),
    (
        "audit-8-evaluate-other-data",
        lambda w: ["evaluate", str(w.edited), "--data-dir", str(w.data)],
        1,
        r"config.json says dataset = 'fashion-mnist', but the model was trained with dataset = 'mnist'",
    ),
    (
        "audit-9-batch-larger-than-the-training-set",
        lambda w: ["train", "--batch-size", "5000", "--data-dir", str(w.data)],
        1,
        r"batch_size = 5000 is invalid: expected at most the 550 training examples of this split",
    ),
    (
        "audit-9-seed-too-large",
        lambda w: ["train", "--seed", str(2**32)],
        1,
        r"seed = 4294967296 is invalid: expected an integer from 0 to 4294967295 \(2\^32 - 1\)",
    ),
    (
        "audit-11-out-is-a-file",
        lambda w: ["train", "--out", str(w.model), "--data-dir", str(w.data)],
        1,
        r"--out .*model.safetensors is a file; expected a folder in which run folders are made",
    ),
    (
        "audit-11-too-many-epochs",
        lambda w: ["train", "--epochs", "1000000"],
        1,
        r"epochs = 1000000 is invalid: expected a positive integer up to 100,000",
    ),
]


def test_the_catalogue_is_long_enough():
    assert len(PYTHON_CASES) + len(CLI_CASES) >= 55
    audited = {int(case[0].split("-")[1]) for case in PYTHON_CASES + CLI_CASES if case[0].startswith("audit-")}
    assert audited >= {1, 2, 4, 5, 6, 8, 9, 11}  # 3, 7, 10 and 12 need servers, processes or a full disk: below
    assert len({case[0] for case in PYTHON_CASES}) == len(PYTHON_CASES)


@pytest.fixture
def no_fallback_data(monkeypatch, tmp_path):
    """Only the folders a case names: no $NEURALNET_DATA_DIR, an empty cache, no download."""
    monkeypatch.delenv("NEURALNET_DATA_DIR", raising=False)
    monkeypatch.setenv("NEURALNET_CACHE_DIR", str(tmp_path / "empty-cache"))


@pytest.mark.parametrize(
    "call, error, message", [case[1:] for case in PYTHON_CASES], ids=[case[0] for case in PYTHON_CASES]
)
def test_python_api_refuses_bad_input(world, no_fallback_data, call, error, message):
    before = state(world.root)
    with pytest.raises(error, match=message):
        call(world)
    assert state(world.root) == before


@pytest.mark.parametrize("argv, status, message", [case[1:] for case in CLI_CASES], ids=[case[0] for case in CLI_CASES])
def test_command_line_refuses_bad_input(world, no_fallback_data, capsys, argv, status, message):
    argv = argv(world)
    if argv[0] == "train" and "--resume" not in argv and "--continue" not in argv:
        argv += [] if "--out" in argv else ["--out", str(world.root / "new-runs")]
        argv += ["--no-download", "--no-progress"] + ([] if "--limit" in argv else ["--limit", "700"])
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


# --- the fault audit (issue 20): the cases that need a process, a server or a full disk -------------


def _interrupted_run(tmp_path, data_dir, epochs: int = 3, at_epoch: int = 2) -> Path:
    """A run folder stopped by Ctrl-C when epoch ``at_epoch``'s line is logged (checkpoints of the
    epochs before it on disk, no model file)."""
    from neuralnet.runs.experiment import TrainingInterrupted

    def stop(line):
        if line.startswith(f"Epoch: {at_epoch:03d}"):
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as stopped:
        train_run(
            TrainingConfig(limit=700, epochs=epochs, hidden=[8], batch_size=50),
            data_dir=data_dir,
            out=tmp_path / "runs",
            log=stop,
            progress=False,
            figures=False,
        )
    return stopped.value.path


def test_audit_1_a_model_out_that_fails_at_the_end_says_resume_finishes_it(tmp_path, data_dir, monkeypatch):
    import neuralnet.runs.experiment as experiment

    real_save = experiment.save_model
    target = tmp_path / "elsewhere" / "model.safetensors"

    def refusing(path, *args, **kwargs):
        if Path(path) == target:
            raise PermissionError(13, f"Permission denied: '{path}'")
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(experiment, "save_model", refusing)
    config = TrainingConfig(limit=700, epochs=2, hidden=[8])
    with pytest.raises(
        PermissionError,
        match=r"training finished and its last checkpoint is in .*: once the problem "
        r"is fixed, `neuralnet train --resume .*` writes the rest",
    ):
        train_run(
            config, data_dir=data_dir, out=tmp_path / "runs", log=None, progress=False, figures=False, model_out=target
        )
    run = next((tmp_path / "runs").iterdir())
    assert not (run / "model.safetensors").exists() and (run / "checkpoint.safetensors").exists()
    monkeypatch.undo()
    finished = experiment.resume_run(run, data_dir=data_dir, log=None, progress=False, figures=False)
    whole = train_run(config, data_dir=data_dir, out=tmp_path / "whole", log=None, progress=False, figures=False)
    np.testing.assert_array_equal(finished.network.flat_values, whole.network.flat_values)
    assert (run / "model.safetensors").exists()


def _fail_writes(monkeypatch, name: str, after: int = 0):
    """Make the atomic writes of files called ``name`` fail with ENOSPC after ``after`` good ones."""
    import errno

    import neuralnet.serving.files as files

    real = files._write_all
    calls = {"n": 0}

    def write_all(handle, data):
        if os.readlink(f"/proc/self/fd/{handle}").split("/")[-1].startswith(f".{name}."):
            calls["n"] += 1
            if calls["n"] > after:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(handle, data)

    monkeypatch.setattr(files, "_write_all", write_all)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to name open files")
def test_audit_7_a_full_disk_names_the_file_at_once_and_leaves_nothing_cut(tmp_path, data_dir, monkeypatch):
    from neuralnet.serving.files import DiskFullError

    _fail_writes(monkeypatch, "checkpoint.safetensors", after=1)  # epoch 1's checkpoint lands, epoch 2's does not
    rows = []
    with pytest.raises(DiskFullError) as full:
        train_run(
            TrainingConfig(limit=700, epochs=6, hidden=[8], batch_size=50),
            data_dir=data_dir,
            out=tmp_path / "runs",
            log=rows.append,
            progress=False,
            figures=False,
        )
    message = str(full.value)
    assert re.search(
        r"no space left on the device to write .*checkpoint.safetensors \([\d,]+ bytes needed, "
        r"[\d,]+ bytes free\)",
        message,
    ), message
    assert re.search(r"keeps the checkpoint of epoch 1: .*`neuralnet train --resume .*` continues from it", message)
    epoch_rows = [row for row in rows if row.startswith("Epoch: ")]  # (the network's summary comes first)
    assert len(epoch_rows) <= 3  # reported during the epoch after the failed write, not a whole epoch later
    run = next((tmp_path / "runs").iterdir())
    assert load_checkpoint(run).epoch == 1 and not list(run.glob(".*.tmp"))

    monkeypatch.undo()
    _fail_writes(monkeypatch, "config.json")
    with pytest.raises(DiskFullError, match=r"config.json \([\d,]+ bytes needed"):
        train_run(
            TrainingConfig(limit=700, epochs=1, hidden=[8]),
            data_dir=data_dir,
            out=tmp_path / "full",
            log=None,
            progress=False,
            figures=False,
        )
    assert list((tmp_path / "full").iterdir()) == []  # no folder holding a 0-byte config.json


def test_audit_10_a_run_folder_that_trains_is_locked(tmp_path, data_dir, capsys):
    from neuralnet.runs.folders import RunFolder

    run = _interrupted_run(tmp_path, data_dir)
    with RunFolder(run).lock():  # another process training it, as far as the lock can tell
        assert main(["train", "--resume", str(run), "--data-dir", str(data_dir), "--no-progress"]) == 1
        err = capsys.readouterr().err
        assert f"{run} is in use by PID {os.getpid()}: another `neuralnet train` is training it" in err
        assert not (run / "model.safetensors").exists()
    assert main(["train", "--resume", str(run), "--data-dir", str(data_dir), "--no-progress", "--no-figures"]) == 0


def test_audit_11_interrupted_runs_say_how_to_go_on(tmp_path, data_dir):
    from neuralnet.runs.experiment import TrainingInterrupted, resume_run

    with pytest.raises(
        TrainingInterrupted,
        match=r"interrupted after epoch 1 \(its checkpoint is in .*\); "
        r"`neuralnet train --resume .*` continues the run",
    ):

        def stop(line):
            if line.startswith("Epoch: 002"):
                raise KeyboardInterrupt

        train_run(
            TrainingConfig(limit=700, epochs=3, hidden=[8], batch_size=50),
            data_dir=data_dir,
            out=tmp_path / "a",
            log=stop,
            progress=False,
            figures=False,
        )
    early = _interrupted_run(tmp_path / "b", data_dir, at_epoch=1)  # before the first checkpoint was on disk
    with pytest.raises(
        FileNotFoundError,
        match=r"the run stopped before its first checkpoint was written, so there "
        r"is nothing to resume; start it again with `neuralnet train`",
    ):
        resume_run(early, data_dir=data_dir)


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_audit_11_a_signal_stops_neuralnet_train_with_the_resume_command(tmp_path, data_dir, signal_name):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "runs"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neuralnet",
            "train",
            "--data-dir",
            str(data_dir),
            "--limit",
            "7000",
            "--epochs",
            "200",
            "--out",
            str(out),
            "--no-figures",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/checkpoint.safetensors")):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.1)
        process.send_signal(getattr(signal, signal_name))
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    run = next(out.iterdir())
    assert process.returncode == 130, err
    assert re.search(
        rf"neuralnet train: interrupted after epoch \d+ \(its checkpoint is in {re.escape(str(run))}\); "
        rf"`neuralnet train --resume {re.escape(str(run))}` continues the run",
        err,
    ), err
    assert "Traceback" not in err and not list(run.glob(".*.tmp"))


def test_audit_12_a_body_shorter_than_its_content_length_is_one_log_line(tmp_path, world):
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "neuralnet", "serve", str(world.run), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        with connection:
            connection.sendall(
                b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                b"Content-Length: 1000\r\n\r\n" + b"\x89PNG\r\n\x1a\n12"
            )
            time.sleep(0.5)
        time.sleep(1.0)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    lines = [line for line in output.splitlines() if "disconnected" in line]
    assert lines == [
        "a client disconnected after sending 10 bytes of the 1000 its Content-Length announced (image/png)"
    ], output
    assert "Traceback" not in output and "ERROR" not in output, output
