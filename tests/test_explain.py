"""``neuralnet explain``: the walk-through of one training step, its numbers and its output."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import MLP, build_mlp

from neuralnet import NeuralNetMLP
from neuralnet.cli import main
from neuralnet.engine.activations import ACTIVATIONS, ActivationFunction
from neuralnet.engine.optim import SGD
from neuralnet.explain import format_walkthrough, walk_through

HIDDEN_ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
LOSSES = ["mse", "cross-entropy"]
GRADIENT_KEYS = ["d_loss__dw_out", "d_loss__db_out", "d_loss__dw_h", "d_loss__db_h"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("hidden, examples", [(3, 1), (1, 4), (8, 4)])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_backpropagation_and_finite_differences_agree(activation, loss, hidden, examples):
    walk = walk_through(hidden, activation=activation, loss=loss, examples=examples)
    assert [g.key for g in walk.gradients] == GRADIENT_KEYS
    for check in walk.gradients:
        assert check.relative_error < 1e-6, (check.key, check.relative_error)
        assert check.analytic.shape == check.numeric.shape
    # the check compares real numbers, not two arrays of zeros
    assert np.abs(walk["d_loss__dw_out"].analytic).max() > 1e-4
    assert np.abs(walk["d_loss__db_out"].numeric).max() > 1e-4
    assert walk.agrees


def test_a_wrong_derivative_is_caught(monkeypatch):
    """If an activation's backward kernel forgot f'(z), the walk-through says so."""
    tanh = ACTIVATIONS["tanh"]

    def forgets_the_derivative(grad, a, out):
        np.copyto(out, grad)  # dL/dz = dL/da: wrong, tanh'(z) = 1 - a^2 is missing
        return out

    monkeypatch.setitem(ACTIVATIONS, "tanh", ActivationFunction("tanh", tanh.forward, forgets_the_derivative))
    walk = walk_through(3, activation="tanh", examples=4)
    by_key = {g.key: g.relative_error for g in walk.gradients}
    assert by_key["d_loss__dw_out"] < 1e-6  # the output layer does not depend on tanh'
    assert by_key["d_loss__dw_h"] > 1e-3 and by_key["d_loss__db_h"] > 1e-3
    assert not walk.agrees
    assert "DISAGREE" in format_walkthrough(walk)


def test_recorded_values_follow_the_chapters_equations_for_mse():
    """Every recorded array, recomputed here with the chapter's formulas from the recorded
    input and weights: the walk-through labels each value right."""
    walk = walk_through(3, activation="sigmoid", loss="mse", examples=4, seed=7)
    x, y = walk["x"].value, walk["y"].value
    W_h, b_h = walk["weight_h"].value, walk["bias_h"].value
    W_out, b_out = walk["weight_out"].value, walk["bias_out"].value
    n = x.shape[0]
    z_h = x @ W_h.T + b_h
    a_h = _sigmoid(z_h)
    z_out = a_h @ W_out.T + b_out
    a_out = _sigmoid(z_out)
    d_loss__d_a_out = 2.0 * (a_out - y) / n
    delta_out = d_loss__d_a_out * a_out * (1.0 - a_out)
    d_loss__a_h = delta_out @ W_out
    delta_h = d_loss__a_h * a_h * (1.0 - a_h)
    expected = {
        "z_h": z_h,
        "a_h": a_h,
        "z_out": z_out,
        "a_out": a_out,
        "loss": np.sum((a_out - y) ** 2) / n,
        "d_loss__d_a_out": d_loss__d_a_out,
        "delta_out": delta_out,
        "d_loss__a_h": d_loss__a_h,
        "delta_h": delta_h,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(walk[key].value, value, rtol=1e-12, atol=1e-15, err_msg=key)
    gradients = {
        "d_loss__dw_out": delta_out.T @ a_h,
        "d_loss__db_out": delta_out.sum(axis=0),
        "d_loss__dw_h": delta_h.T @ x,
        "d_loss__db_h": delta_h.sum(axis=0),
    }
    for key, value in gradients.items():
        np.testing.assert_allclose(walk[key].analytic, value, rtol=1e-12, atol=1e-15, err_msg=key)
    assert y.sum() == n and set(np.argmax(y, axis=1)) <= {0, 1}
    np.testing.assert_array_equal(np.argmax(y, axis=1), walk.labels)


def test_cross_entropy_output_delta_is_a_out_minus_y_over_n():
    walk = walk_through(4, activation="tanh", loss="cross-entropy", examples=5)
    y, z_out, a_out = walk["y"].value, walk["z_out"].value, walk["a_out"].value
    n = y.shape[0]
    expected_a_out = np.exp(z_out) / np.exp(z_out).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(a_out, expected_a_out, rtol=1e-12)
    np.testing.assert_allclose(walk.loss.value, -np.sum(y * np.log(a_out)) / n, rtol=1e-12)
    np.testing.assert_allclose(walk["delta_out"].value, (a_out - y) / n, rtol=1e-12, atol=1e-15)
    a_h = walk["a_h"].value
    np.testing.assert_allclose(walk["delta_h"].value, walk["d_loss__a_h"].value * (1 - a_h**2), rtol=1e-12, atol=1e-15)
    # the fused loss has no output activation layer and no separate dL/da^(out)
    assert walk.layers == ["Dense(2 -> 4)", "Activation(tanh)", "Dense(4 -> 2)"]
    with pytest.raises(KeyError):
        walk["d_loss__d_a_out"]


@pytest.mark.parametrize("loss", LOSSES)
def test_the_walkthrough_is_the_engines_training_step(loss):
    """The same network trained one step by Network.loss_and_gradients and SGD gives bit-identical
    loss, gradients and updated weights."""
    walk = walk_through(5, activation="relu", loss=loss, examples=3, seed=11, lr=0.3)
    network = build_mlp(MLP(2, [5], 2, activation="relu", loss=loss, dtype="float64"), random_seed=11)
    value = network.loss_and_gradients(walk["x"].value, walk["y"].value)
    assert value == walk.loss.value
    engine = {
        "d_loss__dw_out": network.layers[2].grad_weight,
        "d_loss__db_out": network.layers[2].grad_bias,
        "d_loss__dw_h": network.layers[0].grad_weight,
        "d_loss__db_h": network.layers[0].grad_bias,
    }
    for key, grad in engine.items():
        np.testing.assert_array_equal(walk[key].analytic, grad, err_msg=key)
    SGD(network.flat_parameters(), lr=0.3).step()
    after = {u.parameter: u.after for u in walk.updates}
    np.testing.assert_array_equal(after["weight_h"], network.layers[0].weight)
    np.testing.assert_array_equal(after["bias_out"], network.layers[2].bias)


def test_the_default_walkthrough_matches_the_chapters_neuralnetmlp():
    """Figure 11.11's network is NeuralNetMLP(2, 3, 2): same weights, same four gradients."""
    walk = walk_through()
    model = NeuralNetMLP(num_features=2, num_hidden=3, num_classes=2, random_seed=123, dtype=np.float64)
    np.testing.assert_array_equal(model.weight_h, walk["weight_h"].value)
    np.testing.assert_array_equal(model.weight_out, walk["weight_out"].value)
    x = walk["x"].value
    a_h, a_out = model.forward(x)
    np.testing.assert_allclose(a_out, walk["a_out"].value, rtol=1e-14)
    for key, grad in zip(GRADIENT_KEYS, model.backward(x, a_h, a_out, walk.labels)):
        np.testing.assert_allclose(walk[key].analytic, grad, rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("lr", [0.1, 0.5])
def test_sgd_step_is_weights_minus_lr_times_gradient(lr):
    walk = walk_through(3, examples=2, lr=lr)
    gradient_of = {g.parameter: g.analytic for g in walk.gradients}
    assert [u.parameter for u in walk.updates] == ["weight_h", "bias_h", "weight_out", "bias_out"]
    for update in walk.updates:
        expected = update.before - lr * gradient_of[update.parameter]
        np.testing.assert_allclose(update.after, expected, rtol=1e-13, atol=1e-16, err_msg=update.parameter)
        assert not np.array_equal(update.after, update.before)
    np.testing.assert_array_equal(walk.network.layers[0].weight, walk.updates[0].after)
    assert walk.loss_after < walk.loss.value  # a small step down the gradient lowers the loss


@pytest.mark.parametrize("loss", LOSSES)
def test_json_has_every_quantity_with_the_right_shapes(loss, capsys):
    n, d, t, m = 4, 5, 2, 2  # examples, hidden units, classes, features
    assert (
        main(
            [
                "explain",
                "--json",
                "--hidden",
                str(d),
                "--examples",
                str(n),
                "--loss",
                loss,
                "--activation",
                "tanh",
                "--seed",
                "3",
                "--lr",
                "0.2",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["network"]["n_hidden"] == d and data["network"]["n_examples"] == n
    assert data["network"]["loss"] == loss and data["network"]["activation"] == "tanh"
    assert data["network"]["dtype"] == "float64" and data["network"]["seed"] == 3

    def shape(section, key, field="value"):
        entry = data[section][key]
        assert list(np.shape(entry[field])) == entry["shape"]
        return tuple(entry["shape"])

    assert shape("input", "x") == (n, m) and shape("input", "y") == (n, t)
    assert shape("parameters", "weight_h") == (d, m) and shape("parameters", "bias_h") == (d,)
    assert shape("parameters", "weight_out") == (t, d) and shape("parameters", "bias_out") == (t,)
    assert shape("forward", "z_h") == shape("forward", "a_h") == (n, d)
    assert shape("forward", "z_out") == shape("forward", "a_out") == (n, t)
    assert data["forward"]["z_h"]["dims"] == ["n_examples", "n_hidden"]
    assert isinstance(data["forward"]["loss"]["value"], float) and data["forward"]["loss"]["value"] > 0
    assert shape("backward", "delta_out") == (n, t)
    assert shape("backward", "d_loss__a_h") == shape("backward", "delta_h") == (n, d)
    assert ("d_loss__d_a_out" in data["backward"]) == (loss == "mse")
    expected = {"d_loss__dw_out": (t, d), "d_loss__db_out": (t,), "d_loss__dw_h": (d, m), "d_loss__db_h": (d,)}
    for key, dims in expected.items():
        assert shape("gradients", key, "analytic") == shape("gradients", key, "numeric") == dims
        assert data["gradients"][key]["relative_error"] < 1e-6
    assert data["gradient_check"]["agree"] is True
    step = data["sgd_step"]
    assert step["lr"] == 0.2 and step["loss_after"] < step["loss_before"]
    for name, grad_key in [("weight_h", "d_loss__dw_h"), ("bias_out", "d_loss__db_out")]:
        before, after = np.array(step["parameters"][name]["before"]), np.array(step["parameters"][name]["after"])
        np.testing.assert_allclose(
            after, before - 0.2 * np.array(data["gradients"][grad_key]["analytic"]), rtol=1e-13, atol=1e-16
        )
    # the JSON carries the library's numbers
    walk = walk_through(d, activation="tanh", loss=loss, examples=n, seed=3, lr=0.2)
    assert data["forward"]["loss"]["value"] == walk.loss.value
    assert data["backward"]["delta_h"]["value"] == walk["delta_h"].value.tolist()


def test_options_change_the_network():
    base = walk_through()
    assert base["x"].value.shape == (1, 2) and base["weight_h"].value.shape == (3, 2)
    other_seed = walk_through(seed=124)
    assert not np.array_equal(other_seed["weight_h"].value, base["weight_h"].value)
    assert not np.array_equal(other_seed["x"].value, base["x"].value)
    wider = walk_through(6, examples=3)
    assert wider["weight_h"].value.shape == (6, 2) and wider["delta_h"].value.shape == (3, 6)
    # the weights depend on the seed only, not on the size of the batch
    np.testing.assert_array_equal(walk_through(examples=5)["weight_out"].value, base["weight_out"].value)


def test_text_output_uses_the_chapters_notation(capsys):
    assert main(["explain"]) == 0
    text = capsys.readouterr().out
    for name in [
        "x^(in)",
        "z^(h)",
        "a^(h)",
        "z^(out)",
        "a^(out)",
        "L = (1/n) sum_i sum_k (a^(out) - y)^2",
        "dL/da^(out)",
        "delta^(out)",
        "delta^(h)",
        "dL/dW^(out)",
        "dL/db^(out)",
        "dL/dW^(h)",
        "dL/db^(h)",
        "w_{1,1}^(out)",
        "w_{3,2}^(h)",
        "b_{2}^(out)",
        "finite differences",
        "W^(out) := W^(out) - 0.1 dL/dW^(out)",
        "src/neuralnet/engine/layers.py: Dense.forward",
    ]:
        assert name in text, name
    walk = walk_through()
    assert f"{walk.loss.value:.12f}" in text
    assert f"{walk['d_loss__dw_h'].numeric[0, 0]:.12f}" in text  # the finite difference beside...
    assert f"{walk['d_loss__dw_h'].analytic[0, 0]:.12f}" in text  # ...the backpropagated gradient
    assert f"{walk.updates[2].after[0, 0]:.12f}" in text  # W^(out) after the step
    assert "backpropagation and finite differences agree" in text


def test_cross_entropy_text_names_the_softmax(capsys):
    assert main(["explain", "--loss", "cross-entropy", "--activation", "relu"]) == 0
    text = capsys.readouterr().out
    assert "a^(out) = softmax(z^(out))" in text and "delta^(out) = dL/dz^(out) = (a^(out) - y) / n" in text
    assert "delta^(h) = dL/da^(h) * [z^(h) > 0]" in text
    assert "dL/da^(out) =" not in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hidden", "0"], "hidden must be a positive integer, got 0"),
        (["--examples", "-2"], "examples must be a positive integer, got -2"),
        (["--lr", "0"], "lr = 0.0 is invalid: expected a number > 0"),
        (["--eps", "0"], "eps must be a positive number, got 0.0"),
    ],
)
def test_bad_options_are_reported(argv, message, capsys):
    assert main(["explain", *argv]) == 1
    assert message in capsys.readouterr().err


def test_softmax_is_not_a_hidden_activation(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--activation", "softmax"])
    with pytest.raises(ValueError, match="softmax"):
        walk_through(activation="softmax")


# --- docs/backprop.md quotes the code it explains ------------------------------------------

BACKPROP_DOC = Path(__file__).resolve().parents[1] / "docs" / "backprop.md"


def _quoted_code_rows():
    """(snippet, file, function) for every table row of docs/backprop.md that names a file."""
    rows = []
    for line in BACKPROP_DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        files = [i for i, cell in enumerate(cells) if re.fullmatch(r"`src/neuralnet/[\w/]+\.py`", cell)]
        if not files:
            continue
        i = files[0]
        path, function = cells[i].strip("`"), cells[i + 1].strip("`")
        for snippet in re.findall(r"`([^`]+)`", cells[i - 1]):
            rows.append((snippet, path, function))
    return rows


def test_backprop_doc_quotes_lines_that_are_in_the_named_functions():
    rows = _quoted_code_rows()
    assert len(rows) >= 20
    assert {function for _, _, function in rows} >= {
        "Dense.forward",
        "Dense.backward",
        "sigmoid",
        "_sigmoid_backward",
        "SGD.update",
        "softmax",
        "MeanSquaredError.value_and_gradient",
        "SoftmaxCrossEntropy.value_and_gradient",
    }
    for snippet, path, function in rows:
        module = importlib.import_module(path[len("src/") : -len(".py")].replace("/", "."))
        obj = module
        for name in function.split("."):
            obj = getattr(obj, name)
        assert snippet in inspect.getsource(obj), f"{snippet!r} is not in {path}: {function}"


def test_backprop_doc_names_only_files_that_exist():
    root = BACKPROP_DOC.parents[1]
    paths = set(re.findall(r"`(src/neuralnet/[\w/]+\.py|tests/[\w/]+\.py)`", BACKPROP_DOC.read_text()))
    assert len(paths) >= 6
    for path in paths:
        assert (root / path).is_file(), path


def test_a_nearly_zero_gradient_is_judged_by_its_absolute_difference():
    """Here dL/db^(h) is ~4e-7 (the ReLU examples' contributions almost cancel): the central
    difference's rounding error (~4e-11) makes its relative error large, but backprop is right."""
    walk = walk_through(2, activation="relu", loss="cross-entropy", examples=5, seed=4)
    assert walk.max_relative_error > 1e-6
    worst = max(walk.gradients, key=lambda g: g.relative_error)
    assert worst.key == "d_loss__db_h" and np.abs(worst.analytic).max() < 1e-6
    assert worst.max_abs_difference < walk.rounding_level < 1e-8
    assert walk.agrees
    assert "whose entries are nearly zero" in format_walkthrough(walk)
