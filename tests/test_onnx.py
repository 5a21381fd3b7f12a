"""ONNX export: ONNX Runtime gives neuralnet's probabilities (within 1e-5) on the 10,000 MNIST test
images, for the chapter's network and a deep one, and on random pixels for every activation, loss,
dtype and depth; the graph is built from onnx.helper nodes; files are never replaced unasked."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import MLP, build_mlp

from neuralnet.cli import main
from neuralnet.datasets.preprocessing import CHAPTER_PREPROCESSING, scale_pixels
from neuralnet.engine.optim import SGD, Adam
from neuralnet.serving.modelfile import save_model
from neuralnet.serving.onnx_export import INPUT_NAME, OUTPUT_NAME, export_onnx, to_onnx
from neuralnet.serving.predictor import Predictor, load
from neuralnet.training import Trainer

TOLERANCE = 1e-5


def run_onnx(model_bytes: bytes, pixels: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_NAME], {INPUT_NAME: pixels.astype(np.float32)})[0]


def train(arch: MLP, mnist, optimizer, n=10000, epochs=2, **options):
    X, y = mnist
    network = build_mlp(arch, random_seed=1)
    trainer = Trainer(network, optimizer(network.flat_parameters(), **options), rng=1)
    trainer.fit(
        X[:n],
        y[:n],
        epochs=epochs,
        batch_size=100,
        progress=False,
        evaluate_train=False,
        threads=1,
        preprocess=lambda batch: scale_pixels(batch, network.dtype),
    )
    return network


@pytest.mark.parametrize(
    "arch, optimizer, options",
    [
        (MLP(784, [50], 10), SGD, {"lr": 0.1, "momentum": 0.9}),  # the chapter's network
        (
            MLP(784, [256, 128, 64, 32], 10, activation="relu", loss="cross-entropy", init="he", dropout=0.2),
            Adam,
            {"lr": 1e-3},
        ),
    ],
    ids=["chapter", "deep"],
)
def test_onnx_runtime_matches_neuralnet_on_the_mnist_test_set(arch, optimizer, options, mnist, tmp_path):
    X, y = mnist
    network = train(arch, mnist, optimizer, **options)
    save_model(tmp_path / "model.safetensors", network, classes=[str(k) for k in range(10)])
    path = export_onnx(tmp_path / "model.safetensors", tmp_path / "model.onnx")
    test_images = X[60000:]  # the 10,000 MNIST test images, raw pixels 0..255
    expected = load(tmp_path / "model.safetensors").predict_proba(test_images)
    got = run_onnx(path.read_bytes(), test_images)
    assert got.shape == expected.shape == (10000, 10) and got.dtype == np.float32
    difference = np.abs(got.astype(np.float64) - expected).max()
    print(f"max |onnxruntime - neuralnet| on the 10,000 test images ({arch.hidden}): {difference:.3g}")
    assert difference < TOLERANCE
    assert np.mean(np.argmax(got, axis=1) == y[60000:]) > 0.6  # a trained model (chance: 0.1)
    assert np.mean(np.argmax(got, axis=1) == np.argmax(expected, axis=1)) > 0.999


CASES = [
    MLP(784, [20], 10, activation=activation, loss=loss, init="glorot")
    for activation in ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
    for loss in ("mse", "cross-entropy")
] + [
    MLP(784, [], 10, loss="cross-entropy"),  # no hidden layer: softmax regression
    MLP(784, [16] * 6, 10, activation="leaky_relu", init="he", dropout=0.5, loss="cross-entropy"),
    MLP(784, [12, 8], 10, activation="tanh", output_activation="softmax", loss="mse"),
    MLP(784, [12], 10, activation="relu", output_activation="identity", loss="mse"),
    MLP(784, [12], 10, activation="relu", output_activation="tanh", loss="mse"),
    MLP(784, [24, 12], 10, activation="sigmoid", loss="cross-entropy", dtype="float64"),
    MLP(784, [24], 10, activation="leaky_relu", loss="mse", dtype="float64", dropout=0.1),
    MLP(784, [20], 3, activation="relu", loss="cross-entropy"),
    MLP(784, [16], 10, activation="relu", loss="cross-entropy", shift=2),  # training-only shifts
]


@pytest.mark.parametrize(
    "arch", CASES, ids=lambda a: f"{a.activation}-{a.loss}-{a.hidden}-{a.output_activation}-{a.dtype}"
)
def test_every_network_the_engine_builds_exports(arch):
    rng = np.random.RandomState(0)
    network = build_mlp(arch, random_seed=2)
    for p in network.parameters():  # non-zero biases, and weights large enough to use the ranges
        p.value[...] = rng.normal(scale=0.3, size=p.value.shape)
    pixels = rng.randint(0, 256, size=(300, 784)).astype(np.float32)
    pixels[:100] = np.round(pixels[:100] / 255) * 255  # and some black-and-white images
    expected = Predictor(network, {"preprocessing": CHAPTER_PREPROCESSING}).predict_proba(pixels)
    model = to_onnx(network)
    got = run_onnx(model.SerializeToString(), pixels)
    assert got.shape == (300, arch.n_outputs)
    # probabilities within 1e-5; unbounded outputs (identity, as for regression) within float32's
    # relative precision of their size
    allowed = TOLERANCE * np.maximum(1.0, np.abs(expected))
    assert np.all(np.abs(got.astype(np.float64) - expected) < allowed)
    if arch.loss == "cross-entropy" or arch.output_activation == "softmax":
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


def test_the_graph_is_made_of_standard_nodes_with_one_input_and_one_output(tmp_path):
    arch = MLP(784, [50], 10)  # the chapter's network
    network = build_mlp(arch, random_seed=123)
    header = {"classes": [str(k) for k in range(10)], "preprocessing": CHAPTER_PREPROCESSING}
    model = to_onnx(network, header=header)
    onnx.checker.check_model(model, full_check=True)
    assert [node.op_type for node in model.graph.node] == [
        "Mul",
        "Sub",
        "Div",
        "Gemm",
        "Sigmoid",
        "Gemm",
        "Sigmoid",
        "Identity",
    ]
    (graph_input,), (graph_output,) = model.graph.input, model.graph.output
    assert graph_input.name == "pixels" and graph_output.name == "probabilities"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim] == ["N", 784]
    assert [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim] == ["N", 10]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(weights[model.graph.node[3].input[1]], network.layers[0].weight.T)
    assert json.loads({p.key: p.value for p in model.metadata_props}["neuralnet"]) == header
    deep = to_onnx(build_mlp(MLP(784, [8, 8], 10, activation="relu", dropout=0.5, loss="cross-entropy")))
    assert [node.op_type for node in deep.graph.node][3:] == [
        "Gemm",
        "Relu",
        "Gemm",
        "Relu",
        "Gemm",
        "Softmax",
        "Identity",
    ]  # no dropout at inference


def test_export_command_writes_the_file_and_never_replaces_one_unasked(tmp_path, capsys):
    arch = MLP(784, [30], 10, activation="tanh", loss="cross-entropy")
    network = build_mlp(arch, random_seed=4)
    run = tmp_path / "run"
    save_model(run / "model.safetensors", network)
    target = tmp_path / "model.onnx"
    assert main(["export", str(run), "--onnx", str(target)]) == 0
    assert (
        f"ONNX model written to {target}: input 'pixels' float32 (N, 784), output 'probabilities' "
        f"float32 (N, 10)" in capsys.readouterr().out
    )
    pixels = np.random.RandomState(1).randint(0, 256, size=(50, 784))
    expected = load(run).predict_proba(pixels)
    assert np.abs(run_onnx(target.read_bytes(), pixels) - expected).max() < TOLERANCE

    content, mtime = target.read_bytes(), target.stat().st_mtime_ns
    other = tmp_path / "other.safetensors"
    save_model(other, build_mlp(arch, random_seed=5))
    assert main(["export", str(other), "--onnx", str(target)]) == 1
    assert f"{target} already exists; refusing to overwrite it (add --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == content and target.stat().st_mtime_ns == mtime
    assert main(["export", str(other), "--onnx", str(target), "--overwrite"]) == 0
    assert target.read_bytes() != content
    assert np.abs(run_onnx(target.read_bytes(), pixels) - load(other).predict_proba(pixels)).max() < TOLERANCE

    assert main(["export", str(tmp_path / "no-run"), "--onnx", str(tmp_path / "x.onnx")]) == 1
    assert "no model file at" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()
