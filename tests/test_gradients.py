"""Backpropagation against central finite differences, for every layer and loss (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import MLP, build_mlp

from neuralnet import NeuralNetMLP
from neuralnet.engine.activations import ACTIVATIONS
from neuralnet.engine.gradcheck import (
    check_chapter_gradients,
    check_network_gradients,
    numerical_gradient,
    relative_error,
)
from neuralnet.engine.layers import Activation, Dense, Dropout, RandomShift
from neuralnet.engine.losses import MeanSquaredError, SoftmaxCrossEntropy
from neuralnet.engine.network import Network
from neuralnet.training import one_hot

TOLERANCE = 1e-6


def _data(n=7, n_features=5, n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    y = rng.randint(0, n_classes, size=n)
    return X, y, one_hot(y, n_classes, dtype=np.float64)


def test_chapter_backward_matches_finite_differences():
    X, y, _ = _data(n=8, n_features=6, n_classes=4)
    model = NeuralNetMLP(num_features=6, num_hidden=5, num_classes=4, random_seed=1, dtype=np.float64)
    errors = check_chapter_gradients(model, X, y)
    assert set(errors) == {"weight_out", "bias_out", "weight_h", "bias_h"}
    for name, error in errors.items():
        assert error < TOLERANCE, f"{name}: relative error {error:.2e}"


def test_chapter_backward_equals_the_chapters_formulas():
    """The engine's gradients equal the chapter's printed expressions, written out here."""
    X, y, Y = _data(n=9, n_features=6, n_classes=4)
    model = NeuralNetMLP(6, 5, 4, random_seed=2, dtype=np.float64)
    a_h, a_out = model.forward(X)
    d_w_out, d_b_out, d_w_h, d_b_h = model.backward(X, a_h, a_out, y)
    delta_out = 2.0 * (a_out - Y) / y.shape[0] * a_out * (1.0 - a_out)
    d_h = np.dot(delta_out, model.weight_out) * a_h * (1.0 - a_h)
    np.testing.assert_allclose(d_w_out, delta_out.T @ a_h, rtol=1e-12)
    np.testing.assert_allclose(d_b_out, delta_out.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(d_w_h, d_h.T @ X, rtol=1e-12)
    np.testing.assert_allclose(d_b_h, d_h.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"softmax"}))
@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
@pytest.mark.parametrize("hidden", [[4], [6, 5], [5, 4, 3]])
def test_network_gradients(activation, loss, hidden):
    X, _, Y = _data()
    arch = MLP(
        n_features=5, hidden=hidden, n_outputs=3, activation=activation, loss=loss, init="glorot", dtype="float64"
    )
    network = build_mlp(arch, random_seed=3)
    if activation in ("relu", "leaky_relu"):
        # keep pre-activations away from the kink at 0, where the derivative does not exist
        for p in network.parameters():
            if p.name == "bias":
                p.value += 0.05
    errors = check_network_gradients(network, X, Y)
    for name, error in errors.items():
        assert error < TOLERANCE, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("output_activation", ["sigmoid", "softmax", "tanh", "identity"])
def test_mse_with_every_output_activation(output_activation):
    X, _, Y = _data(n_classes=3)
    arch = MLP(5, [4], 3, activation="tanh", output_activation=output_activation, loss="mse", dtype="float64")
    errors = check_network_gradients(build_mlp(arch, random_seed=4), X, Y)
    assert max(errors.values()) < TOLERANCE, errors


def test_dropout_with_a_fixed_mask():
    X, _, Y = _data(n=6)
    rng = np.random.RandomState(5)
    dropout = Dropout(0.5, rng=0)
    network = Network(
        [
            Dense(5, 8, init="glorot", rng=rng, dtype=np.float64),
            Activation("tanh"),
            dropout,
            Dense(8, 3, init="glorot", rng=rng, dtype=np.float64),
        ],
        SoftmaxCrossEntropy(),
        dtype=np.float64,
    )
    dropout.fixed_mask = dropout._draw_mask(np.empty((6, 8)))
    assert set(np.unique(dropout.fixed_mask)) == {0.0, 2.0}
    errors = check_network_gradients(network, X, Y)
    assert max(errors.values()) < TOLERANCE, errors
    # the mask really is applied: zeroed units receive no gradient through the dropout layer
    hidden_grad = network.layers[0].grad_weight
    dropped_units = np.flatnonzero(dropout.fixed_mask.sum(axis=0) == 0)
    assert np.all(hidden_grad[dropped_units] == 0)


def test_input_gradient_of_each_layer():
    """dL/dx returned by each layer's backward, checked on the layer alone."""
    rng = np.random.RandomState(6)
    x = rng.normal(size=(4, 5))
    upstream = rng.normal(size=(4, 3))
    for layer in [Dense(5, 3, init="glorot", rng=rng, dtype=np.float64)]:
        layer.forward(x, training=True)
        dx = layer.backward(upstream)
        numeric = numerical_gradient(lambda layer=layer: float(np.sum(layer.forward(x) * upstream)), x)
        assert relative_error(dx, numeric) < TOLERANCE
    for name in ACTIVATIONS:
        layer = Activation(name)
        z = rng.normal(size=(4, 3)) + 0.05
        up = rng.normal(size=(4, 3))
        layer.forward(z, training=True)
        dz = layer.backward(up)
        numeric = numerical_gradient(lambda layer=layer, z=z, up=up: float(np.sum(layer.forward(z) * up)), z)
        assert relative_error(dz, numeric) < TOLERANCE, name


@pytest.mark.parametrize("loss", [MeanSquaredError(), SoftmaxCrossEntropy()])
def test_loss_gradient_with_respect_to_output(loss):
    rng = np.random.RandomState(7)
    output = rng.uniform(0.05, 0.95, size=(6, 4))
    Y = one_hot(rng.randint(0, 4, size=6), 4, dtype=np.float64)
    numeric = numerical_gradient(lambda: loss.value(output, Y), output)
    assert relative_error(loss.gradient(output, Y), numeric) < TOLERANCE


def test_gradient_check_detects_a_wrong_gradient():
    """The check itself can fail: a gradient off by a factor of 2 is caught."""
    X, _, Y = _data()
    network = build_mlp(MLP(5, [4], 3, dtype="float64"), random_seed=0)
    output = network.forward(X, training=True)
    network.backward(network.loss.gradient(output, Y))
    p = network.parameters()[0]
    numeric = numerical_gradient(lambda: network.loss.value(network.forward(X, True), Y), p.value)
    assert relative_error(p.grad, numeric) < TOLERANCE
    assert relative_error(2 * p.grad, numeric) > 0.3


def test_random_shift_backward_is_the_adjoint_of_its_forward():
    """With fixed offsets (and a fixed fill) the shift is linear in x: its backward must be
    exactly the gradient of sum(forward(x) * upstream)."""
    rng = np.random.RandomState(8)
    x = rng.normal(size=(5, 36))  # 6 x 6 images
    upstream = rng.normal(size=(5, 36))
    layer = RandomShift(2, fill=0.0)
    layer.fixed_offsets = np.array([[2, -1], [0, 0], [-2, 2], [1, 1], [-1, -2]])
    layer.forward(x, training=True)
    dx = layer.backward(upstream)
    numeric = numerical_gradient(lambda: float(np.sum(layer.forward(x, training=True) * upstream)), x)
    assert relative_error(dx, numeric) < TOLERANCE


def test_network_with_shifted_inputs():
    rng = np.random.RandomState(9)
    X = rng.normal(size=(6, 16))
    Y = one_hot(rng.randint(0, 3, size=6), 3, dtype=np.float64)
    network = build_mlp(
        MLP(16, [5], 3, activation="tanh", loss="cross-entropy", shift=1, init="glorot", dtype="float64"), random_seed=2
    )
    assert isinstance(network.layers[0], RandomShift)
    network.layers[0].fixed_offsets = rng.randint(-1, 2, size=(6, 2))
    errors = check_network_gradients(network, X, Y)
    assert max(errors.values()) < TOLERANCE, errors
