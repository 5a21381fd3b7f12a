"""Model files: the documented format, exact predictions after loading, refusal of bad files,
atomic writes that never replace a file unasked, and no pickle anywhere."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import MLP, build_mlp
from safetensors.numpy import load_file, save_file

from neuralnet.datasets.preprocessing import scale_pixels
from neuralnet.engine.optim import SGD
from neuralnet.serving.files import ModelFileError, atomic_write_bytes, safetensors_bytes
from neuralnet.serving.modelfile import FORMAT, FORMAT_VERSION, load_model, save_model
from neuralnet.serving.predictor import Predictor, load
from neuralnet.training import Trainer

SRC = Path(__file__).resolve().parents[1] / "src" / "neuralnet"


def trained(arch: MLP, mnist, n: int = 3000, epochs: int = 1, seed: int = 1, optimizer=SGD, **options):
    """A network trained briefly on the first n MNIST training images (raw pixels, scaled per batch)."""
    X, y = mnist
    network = build_mlp(arch, random_seed=seed)
    trainer = Trainer(network, optimizer(network.flat_parameters(), **options), rng=seed)
    trainer.fit(
        X[:n],
        y[:n],
        epochs=epochs,
        batch_size=100,
        progress=False,
        preprocess=lambda batch: scale_pixels(batch, network.dtype),
    )
    return network


@pytest.fixture(scope="module")
def chapter_model(mnist, tmp_path_factory):
    arch = MLP(784, [50], 10)
    network = trained(arch, mnist, lr=0.1)
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save_model(path, network, classes=[str(k) for k in range(10)], training={"lr": 0.1}, metrics={"test_acc": 0.5})
    return network, arch, path


# --- the format -----------------------------------------------------------------------------


def test_the_file_is_safetensors_with_the_documented_json_header(chapter_model):
    network, arch, path = chapter_model
    tensors = load_file(str(path))
    assert sorted(tensors) == ["layers.0.bias", "layers.0.weight", "layers.2.bias", "layers.2.weight"]
    assert tensors["layers.0.weight"].shape == (50, 784) and tensors["layers.0.weight"].dtype == np.float32
    np.testing.assert_array_equal(tensors["layers.2.weight"], network.layers[2].weight)
    (size,) = struct.unpack("<Q", path.read_bytes()[:8])
    header = json.loads(json.loads(path.read_bytes()[8 : 8 + size])["__metadata__"]["neuralnet"])
    assert header["format"] == FORMAT == "neuralnet-model" and header["format_version"] == FORMAT_VERSION == 2
    assert header["architecture"] == {"input_shape": [784], "layers": arch.specs(), "loss": "mse", "dtype": "float32"}
    assert header["architecture"]["layers"] == [
        {"type": "Dense", "n_in": 784, "n_out": 50, "init": "normal"},
        {"type": "Activation", "name": "sigmoid"},
        {"type": "Dense", "n_in": 50, "n_out": 10, "init": "normal"},
        {"type": "Activation", "name": "sigmoid"},
    ]
    assert header["preprocessing"]["name"] == "chapter" and "255" in header["preprocessing"]["formula"]
    assert header["classes"] == [str(k) for k in range(10)]
    assert header["training"] == {"lr": 0.1} and header["metrics"] == {"test_acc": 0.5}
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model-format.md").read_text()
    for key in ("format_version", "architecture", "preprocessing", "classes", "training", "metrics"):
        assert f'"{key}"' in doc, key


@pytest.mark.parametrize(
    "arch",
    [
        MLP(784, [50], 10),
        MLP(784, [64, 32], 10, activation="relu", loss="cross-entropy", init="he", dropout=0.2),
        MLP(784, [40], 10, activation="tanh", dtype="float64"),
        MLP(784, [30, 20, 10], 10, activation="leaky_relu", loss="cross-entropy", init="glorot"),
        MLP(784, [64], 10, activation="tanh", loss="cross-entropy", init="glorot", dropout=0.1, shift=1),
    ],
    ids=["chapter", "relu-dropout-ce", "tanh-float64", "deep-leaky", "shifted-inputs"],
)
def test_loaded_predictor_is_bit_identical_to_the_trained_model(arch, mnist, tmp_path):
    X, y = mnist
    network = trained(arch, mnist, n=10000, epochs=2, lr=0.1, momentum=0.9)
    save_model(tmp_path / "m.safetensors", network, classes=list("abcdefghij"))
    predictor = load(tmp_path / "m.safetensors")
    assert isinstance(predictor, Predictor) and predictor.network.dtype == np.dtype(arch.dtype)
    raw = X[60000:62000]  # test images, raw uint8 0..255
    expected = network.predict_proba(scale_pixels(raw, network.dtype))
    got = predictor.predict_proba(raw)
    assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
    labels = predictor.predict(raw)
    assert list(labels[:50]) == [list("abcdefghij")[k] for k in np.argmax(expected[:50], axis=1)]
    # the same pixels as floats or other integers give the same numbers
    assert predictor.predict_proba(raw.astype(np.float32)).tobytes() == expected.tobytes()
    assert predictor.predict_proba(raw.astype(np.int64)).tobytes() == expected.tobytes()
    # one image as a 1-D array is the batch of that one image
    one = network.predict_proba(scale_pixels(raw[:1], network.dtype))
    assert predictor.predict_proba(raw[0]).tobytes() == one.tobytes()
    accuracy = np.mean(predictor.predict(raw) == np.asarray(list("abcdefghij"))[y[60000:62000]])
    assert accuracy > 0.5, accuracy  # a trained model (chance is 0.1)


def test_load_accepts_a_run_folder(chapter_model, tmp_path):
    network, arch, path = chapter_model
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(path.read_bytes())
    assert load(tmp_path / "run").network.flat_values.tobytes() == network.flat_values.tobytes()
    with pytest.raises(FileNotFoundError, match=r"holds no model.safetensors"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model file at"):
        load(tmp_path / "missing.safetensors")


# --- bad files are refused ------------------------------------------------------------------


def _rewrite(path: Path, target: Path, edit_header=None, edit_tensors=None) -> Path:
    """Copy the model file at ``path`` to ``target`` with its header and tensors edited."""
    (size,) = struct.unpack("<Q", path.read_bytes()[:8])
    header = json.loads(json.loads(path.read_bytes()[8 : 8 + size])["__metadata__"]["neuralnet"])
    tensors = load_file(str(path))
    if edit_header:
        edit_header(header)
    if edit_tensors:
        edit_tensors(tensors)
    target.write_bytes(safetensors_bytes(tensors, header))
    return target


def _set(key, value):
    return lambda header: header.__setitem__(key, value)


def _nan_weight(tensors):
    tensors["layers.2.bias"][3] = np.nan


@pytest.mark.parametrize(
    "header_edit, tensor_edit, message",
    [
        (
            _set("format_version", 3),
            None,
            r"format version 3 is not supported \(this neuralnet reads neuralnet-model versions 1 and 2\)",
        ),
        (_set("format_version", None), None, r"format version None is not supported"),
        (_set("format", "something-else"), None, r"format 'something-else' is not 'neuralnet-model'"),
        (
            lambda h: h["architecture"]["layers"][0].__setitem__("n_out", 40),
            None,
            r"layer 2 of the stack .*Dense has n_in = 50, but its input has 40 features",
        ),
        (
            lambda h: [h["architecture"]["layers"][i].__setitem__("n_out" if i == 0 else "n_in", 40) for i in (0, 2)],
            None,
            r"layers.0.weight has shape \(50, 784\), but the architecture \(Dense\(40\) -> Activation -> "
            r"Dense\(10\) -> Activation\) needs \(40, 784\)",
        ),
        (
            lambda h: h["architecture"]["layers"].extend(
                [
                    {"type": "Dense", "n_in": 10, "n_out": 10, "init": "normal"},
                    {"type": "Activation", "name": "sigmoid"},
                ]
            ),
            None,
            r"missing \['layers.4.bias', 'layers.4.weight'\]",
        ),
        (None, lambda t: t.pop("layers.2.bias"), r"missing \['layers.2.bias'\]"),
        (
            None,
            lambda t: t.__setitem__("layers.9.weight", np.zeros(3, np.float32)),
            r"unexpected \['layers.9.weight'\]",
        ),
        (
            None,
            lambda t: t.__setitem__("layers.0.bias", t["layers.0.bias"].astype(np.float64)),
            r"layers.0.bias is float64, but the architecture says float32",
        ),
        (None, _nan_weight, r"layers.2.bias contains NaN or infinite values"),
        (lambda h: h["architecture"]["layers"][1].__setitem__("name", "swish"), None, r"unknown activation 'swish'"),
        (
            lambda h: h["architecture"]["layers"][0].__setitem__("colour", "red"),
            None,
            r"Dense layer .*unexpected keyword argument 'colour'",
        ),
        (lambda h: h["architecture"]["layers"].insert(0, {"type": "Conv9D"}), None, r"unknown layer type 'Conv9D'"),
        (
            lambda h: h["architecture"].__setitem__("colour", "red"),
            None,
            r"invalid architecture .*expected an object with exactly input_shape, layers, loss and dtype",
        ),
        (lambda h: h.pop("architecture"), None, r"the header has no architecture"),
        (
            _set("preprocessing", {"name": "imagenet"}),
            None,
            r"preprocessing 'imagenet' is not supported; expected one of \['chapter', 'standardize'\]",
        ),
        (_set("preprocessing", {"name": ["chapter"]}), None, r"preprocessing \['chapter'\] is not supported"),
        (_set("classes", ["a", "b"]), None, r"'classes' must list 10 labels \(strings or numbers\), got \['a', 'b'\]"),
        (_set("classes", [[k] for k in range(10)]), None, r"'classes' must list 10 labels \(strings or numbers\)"),
        (_set("metrics", [1]), None, r"'metrics' must be an object, got \[1\]"),
    ],
    ids=[
        "version-3",
        "no-version",
        "other-format",
        "shapes-do-not-fit",
        "shape-mismatch",
        "missing-layer",
        "missing-tensor",
        "extra-tensor",
        "dtype-mismatch",
        "nan-weight",
        "unknown-activation",
        "unknown-setting",
        "unknown-layer",
        "unknown-field",
        "no-architecture",
        "unknown-preprocessing",
        "preprocessing-not-a-name",
        "classes",
        "nested-classes",
        "metrics-not-an-object",
    ],
)
def test_invalid_model_files_are_refused_with_a_clear_error(chapter_model, tmp_path, header_edit, tensor_edit, message):
    bad = _rewrite(chapter_model[2], tmp_path / "bad.safetensors", header_edit, tensor_edit)
    with pytest.raises(ModelFileError, match=message) as error:
        load(bad)
    assert str(bad) in str(error.value)


def test_truncated_files_are_refused_at_any_length(chapter_model, tmp_path):
    content = chapter_model[2].read_bytes()
    bad = tmp_path / "truncated.safetensors"
    for length in (0, 4, 8, 100, len(content) // 2, len(content) - 1):
        bad.write_bytes(content[:length])
        with pytest.raises(ModelFileError, match=r"not a readable safetensors file \(truncated or corrupted\?\)"):
            load_model(bad)


def test_corrupted_header_and_foreign_files_are_refused(chapter_model, tmp_path):
    tensors = load_file(str(chapter_model[2]))
    (size,) = struct.unpack("<Q", chapter_model[2].read_bytes()[:8])
    text = json.loads(chapter_model[2].read_bytes()[8 : 8 + size])["__metadata__"]["neuralnet"]
    save_file(tensors, str(tmp_path / "a.safetensors"), metadata={"neuralnet": text[:-20]})  # cut JSON
    with pytest.raises(ModelFileError, match="the 'neuralnet' JSON header is corrupted"):
        load(tmp_path / "a.safetensors")
    content = bytearray(chapter_model[2].read_bytes())
    content[content.index(b"format_version") - 1] = ord("#")  # breaks the safetensors header itself
    (tmp_path / "b.safetensors").write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load(tmp_path / "b.safetensors")
    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ModelFileError, match="has no 'neuralnet' header: it was not written by neuralnet"):
        load(tmp_path / "plain.safetensors")
    (tmp_path / "text.safetensors").write_text("hello, I am not a model")
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load(tmp_path / "text.safetensors")


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for name in ("model.safetensors", "model.pkl"):
        (tmp_path / name).write_bytes(pickle.dumps({"weights": Exploit()}))
        with pytest.raises(ModelFileError):
            load(tmp_path / name)
    assert not marker.exists()


def test_no_pickle_in_the_library():
    """No module imports pickle, nothing loads files with joblib or torch (both unpickle), and
    every NumPy load passes allow_pickle=False. (joblib's Parallel, which the hyper-parameter
    search uses to run fits, reads no files.)"""
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|dill)\b", text, re.M), path
        assert not re.search(r"\bjoblib\.load\(|from\s+joblib\s+import\s+[^\n]*\bload\b", text), path
        assert "torch.load(" not in text, path
        for call in re.finditer(r"np\.load\(([^)]*)\)", text):
            assert "allow_pickle=False" in call.group(1), f"{path}: {call.group(0)}"


# --- writing never replaces a file unasked --------------------------------------------------


def test_save_model_refuses_to_replace_an_existing_file(chapter_model, tmp_path):
    network, arch, path = chapter_model
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"precious")
    before = target.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match=r"model.safetensors already exists; refusing to overwrite it"):
        save_model(target, network)
    assert target.read_bytes() == b"precious" and target.stat().st_mtime_ns == before
    save_model(target, network, overwrite=True)
    assert load(target).network.flat_values.tobytes() == network.flat_values.tobytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no temporary files left


def test_atomic_write_leaves_nothing_behind_when_it_fails(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes", overwrite=True)  # fails while writing the temporary file
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
    with pytest.raises(IsADirectoryError, match="is a folder"):
        atomic_write_bytes(tmp_path, b"x", overwrite=True)
    new = atomic_write_bytes(tmp_path / "sub" / "new.bin", b"new")
    assert new.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask  # like open(), not mkstemp's 0o600


def test_save_model_checks_classes(chapter_model, tmp_path):
    network, arch, _ = chapter_model
    with pytest.raises(ValueError, match="3 class labels given, but the network has 10 outputs"):
        save_model(tmp_path / "m.safetensors", network, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"'classes' must list 10 labels \(strings or numbers\)"):
        save_model(tmp_path / "m.safetensors", network, classes=[[k] for k in range(10)])
    assert not (tmp_path / "m.safetensors").exists()
