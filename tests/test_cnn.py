"""Convolutional networks wherever a model goes: the configuration (TOML, command line, named
stacks), training and bit-identical resume, the model file and neuralnet.load on raw pixels, the
ONNX export, the web app's filters and feature maps, the estimator, figures, and the walk-through."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

import neuralnet
from neuralnet.cli import main
from neuralnet.runs.config import ConfigError, TrainingConfig
from neuralnet.runs.experiment import TrainingInterrupted, resume_run, train_run

STACK = (
    "conv2d(6, 3, padding=1), batchnorm, relu, maxpool2d(2), conv2d(8, 3), relu, avgpool2d(2), flatten, dropout(0.2)"
)
QUICK = dict(
    layers=STACK,
    shift=1,
    loss="cross-entropy",
    optimizer="adam",
    lr=3e-3,
    batch_size=50,
    limit=1400,
    seed=4,
    init="auto",
)


def test_the_configuration_takes_a_stack_in_every_form(tmp_path):
    short = TrainingConfig(layers="conv2d(8, 3), relu, flatten")
    assert short.layers == [
        {"type": "Conv2D", "out_channels": 8, "kernel_size": 3},
        {"type": "Activation", "name": "relu"},
        {"type": "Flatten"},
    ]
    toml = tmp_path / "cnn.toml"
    toml.write_text(
        'epochs = 2\n[[layers]]\ntype = "conv2d"\nfilters = 8\nkernel_size = 3\n'
        '[[layers]]\ntype = "relu"\n[[layers]]\ntype = "flatten"\n'
    )
    assert TrainingConfig.from_toml(toml).layers == short.layers
    named = TrainingConfig(layers="lenet5").layers
    assert [spec["type"] for spec in named][:3] == ["Conv2D", "Activation", "AvgPool2D"]
    with pytest.raises(ConfigError, match=r"layers = 'conv3d\(8\)' is invalid: unknown layer type 'conv3d'"):
        TrainingConfig(layers="conv3d(8)")
    with pytest.raises(ConfigError, match=r"layers = .* is invalid: expected to replace hidden and dropout"):
        TrainingConfig(layers="flatten", hidden=[100])


def test_a_stack_on_the_command_line_and_its_errors(tmp_path, data_dir, capsys):
    argv = [
        "train",
        "--data-dir",
        str(data_dir),
        "--limit",
        "700",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--no-progress",
        "--no-figures",
        "--loss",
        "cross-entropy",
    ]
    assert main(argv + ["--layers", "conv2d(4, 5), relu, maxpool2d(2), flatten"]) == 0
    run = next(tmp_path.iterdir())
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["layers"][0] == {"type": "Conv2D", "out_channels": 4, "kernel_size": 5}
    assert main(argv + ["--layers", "conv2d(4, 5), relu, dense(10)"]) == 1
    assert re.search(
        r"layer 2 of the stack \(examples of shape \(4, 24, 24\) from layer 1\): Dense takes flat inputs "
        r".*put a Flatten layer before it",
        capsys.readouterr().err,
    )
    assert len(list(tmp_path.iterdir())) == 1  # the refused stack made no run folder


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("cnn")
    return train_run(TrainingConfig(epochs=3, **QUICK), data_dir=data_dir, out=out, log=None, progress=False)


def test_a_convolutional_run_is_an_ordinary_run_folder(cnn_run):
    run = cnn_run.path
    files = {p.name for p in run.iterdir()}
    assert {"model.safetensors", "checkpoint.safetensors", "history.csv", "metrics.json"} <= files
    assert (run / "figures" / "filters.png").is_file() and not (run / "figures" / "hidden_weights.png").exists()
    assert cnn_run.metrics["test_acc"] > 0.8
    model = neuralnet.load(run)
    assert model.network.input_shape == (1, 28, 28)
    assert model.header["architecture"]["layers"][0]["type"] == "RandomShift"


def test_load_takes_raw_pixels_in_any_image_shape(cnn_run, mnist):
    model = neuralnet.load(cnn_run.path)
    X = mnist[0][60000:60020]  # raw test pixels, uint8 rows
    rows = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(X.reshape(20, 28, 28)), rows)
    np.testing.assert_array_equal(model.predict_proba(X.reshape(20, 1, 28, 28)), rows)
    np.testing.assert_array_equal(model.predict_proba(X[0].reshape(28, 28)), model.predict_proba(X[:1]))
    # exactly what the trained network gives on the chapter's scaled pixels
    from neuralnet.datasets.preprocessing import scale_pixels

    np.testing.assert_array_equal(cnn_run.network.predict_proba(scale_pixels(X)), rows)


def test_an_interrupted_convolutional_run_resumes_bit_identically(cnn_run, tmp_path, data_dir):
    def stop(line):
        if line.startswith("Epoch: 002"):
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train_run(
            TrainingConfig(epochs=3, **QUICK), data_dir=data_dir, out=tmp_path, log=stop, progress=False, figures=False
        )
    resumed = resume_run(next(tmp_path.iterdir()), data_dir=data_dir, log=None, progress=False, figures=False)
    # every weight, and batch normalisation's running statistics too
    np.testing.assert_array_equal(resumed.network.flat_values, cnn_run.network.flat_values)
    assert resumed.metrics["test_acc"] == cnn_run.metrics["test_acc"]


def test_onnx_runtime_gives_the_models_probabilities_on_the_10000_test_images(cnn_run, mnist, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from neuralnet.serving.onnx_export import INPUT_NAME, export_onnx

    path = export_onnx(cnn_run.path, tmp_path / "cnn.onnx")
    X = mnist[0][60000:]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, {INPUT_NAME: X.astype(np.float32)})[0]
    ours = neuralnet.load(cnn_run.path).predict_proba(X)
    difference = float(np.abs(theirs - ours).max())
    print(f"max |ONNX Runtime - neuralnet| on 10,000 test images: {difference:.2e}")
    assert difference < 1e-5
    assert (theirs.argmax(1) == ours.argmax(1)).mean() > 0.999


def test_the_web_app_shows_filters_and_feature_maps(cnn_run):
    from fastapi.testclient import TestClient

    from neuralnet.web import create_app

    client = TestClient(create_app(cnn_run.path))
    model = client.get("/api/model").json()
    assert model["filters"] == {"count": 6, "url": "/api/filters/{k}.png", "size": [3, 3]}
    assert model["hidden_units"]["count"] == 0
    png = client.get("/api/filters/5.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get("/api/filters/6.png").status_code == 404
    pixels = np.zeros(784)
    pixels[300:500] = 255
    answer = client.post("/api/feature-maps", json={"pixels": pixels.tolist()}).json()
    assert answer["shape"] == [6, 28, 28] and answer["layer"] == "Conv2D(1 -> 6, 3x3, padding 1)"
    assert len(answer["maps"]) == 6 and all(m.startswith("data:image/png;base64,") for m in answer["maps"])
    expected = neuralnet.load(cnn_run.path).feature_maps(pixels[None])
    assert expected.shape == (1, 6, 28, 28)


def test_the_estimator_trains_a_stack_on_images(mnist):
    from neuralnet import MLPClassifier

    X, y = mnist[0][:1200] / 255.0, mnist[1][:1200]
    model = MLPClassifier(
        layers="conv2d(4, 3), relu, maxpool2d(2), flatten",
        input_shape=(1, 28, 28),
        max_iter=3,
        learning_rate=3e-3,
        random_state=0,
    ).fit(X[:1000], y[:1000])
    assert model.network_.input_shape == (1, 28, 28) and model.score(X[1000:], y[1000:]) > 0.6
    with pytest.raises(ValueError, match=r"input_shape=\(1, 27, 27\) holds 729 values, but X has 784 features"):
        MLPClassifier(layers="flatten", input_shape=(1, 27, 27), max_iter=1).fit(X[:100], y[:100])


def test_the_convolution_walk_through_computes_what_the_equations_say():
    from neuralnet.explain_conv import format_convolution_walkthrough, walk_through_convolution

    walk = walk_through_convolution(seed=7)
    x, W, b = walk["x"].value, walk["weight"].value, walk["bias"].value[0]
    # the equations, written out here: z[i, j] = sum W[u, v] x[i + u, j + v] + b
    z = np.array([[np.sum(W * x[i : i + 3, j : j + 3]) + b for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(walk["z"].value, z, rtol=1e-12)
    a = 1 / (1 + np.exp(-z))
    delta = 2 * (a - walk["y"].value) * a * (1 - a)
    np.testing.assert_allclose(walk["delta"].value, delta, rtol=1e-10)
    d_w = np.array([[np.sum(delta * x[u : u + 3, v : v + 3]) for v in range(3)] for u in range(3)])
    np.testing.assert_allclose(walk["d_loss__dw"].analytic, d_w, rtol=1e-10)
    assert walk.max_relative_error < 1e-6 and walk.loss_after < float(walk.loss.value)
    text = format_convolution_walkthrough(walk)
    assert "dL/dW[u, v] = sum_{i, j} delta[i, j] x[i + u, j + v]" in text and "agree" in text


def test_explain_conv_on_the_command_line(capsys):
    assert main(["explain", "--conv", "--json", "--seed", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gradient_check"]["agree"] and data["network"]["filter"] == [3, 3]
    assert data["sgd_step"]["loss_after"] < data["sgd_step"]["loss_before"]


def test_a_convolutional_model_without_images_is_refused_clearly(tmp_path):
    from neuralnet.engine.network import build_network
    from neuralnet.engine.specs import parse_layers
    from neuralnet.runs.builder import input_shape

    config = TrainingConfig(layers="conv2d(4, 3), flatten")
    with pytest.raises(ValueError, match=r"layers starts with Conv2D, which takes images, but the data are rows of 13"):
        input_shape(config, (13,), None)
    with pytest.raises(ValueError, match=r"Conv2D takes images \[n, channels, height, width\], got examples of shape"):
        build_network(parse_layers("conv2d(4, 3), flatten"), (784,))
    network = build_network(parse_layers("conv2d(4, 3), flatten, dense(2)"), (1, 5, 5), "cross-entropy")
    with pytest.raises(ValueError, match=r"X has examples of shape \(6, 6\), but the network expects \(1, 5, 5\)"):
        network.predict(np.zeros((3, 6, 6)))
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_the_recipes_use_the_named_cnn_stack():
    from pathlib import Path

    recipes = Path(__file__).resolve().parents[1] / "recipes"
    named = TrainingConfig(layers="cnn").layers
    for name in ("mnist-cnn.toml", "fashion-mnist-cnn.toml"):
        config = TrainingConfig.from_toml(recipes / name)
        assert config.layers == named and config.loss == "cross-entropy" and config.epochs == 15
    assert TrainingConfig.from_toml(recipes / "fashion-mnist-cnn.toml").dataset == "fashion-mnist"
