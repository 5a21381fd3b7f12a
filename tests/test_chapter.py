"""The chapter's API: NeuralNetMLP, its helpers, compute_mse_and_acc and train."""

from __future__ import annotations

import numpy as np
import pytest

import neuralnet
from neuralnet import (
    NeuralNetMLP,
    accuracy,
    compute_mse_and_acc,
    int_to_onehot,
    minibatch_generator,
    mse_loss,
    sigmoid,
    train,
)
from neuralnet.datasets import load_chapter_data


def test_import_as_in_the_chapter():
    from neuralnet import NeuralNetMLP as Imported

    assert Imported is neuralnet.chapter.NeuralNetMLP


def test_attributes_shapes_and_initialization_order():
    model = NeuralNetMLP(num_features=784, num_hidden=50, num_classes=10, random_seed=123, dtype=np.float64)
    rng = np.random.RandomState(123)
    expected_h = rng.normal(loc=0.0, scale=0.1, size=(50, 784))
    expected_out = rng.normal(loc=0.0, scale=0.1, size=(10, 50))
    assert model.num_classes == 10
    np.testing.assert_array_equal(model.weight_h, expected_h)
    np.testing.assert_array_equal(model.weight_out, expected_out)
    np.testing.assert_array_equal(model.bias_h, np.zeros(50))
    np.testing.assert_array_equal(model.bias_out, np.zeros(10))
    default = NeuralNetMLP(784, 50, 10)
    assert default.weight_h.dtype == np.float32
    np.testing.assert_array_equal(default.weight_h, expected_h.astype(np.float32))


def test_forward_and_backward_shapes():
    model = NeuralNetMLP(784, 50, 10)
    x = np.random.RandomState(0).uniform(-1, 1, size=(100, 784)).astype(np.float32)
    y = np.arange(100) % 10
    a_h, a_out = model.forward(x)
    assert a_h.shape == (100, 50) and a_out.shape == (100, 10)
    assert a_h.dtype == np.float32 and a_out.dtype == np.float32
    assert np.all((a_out > 0) & (a_out < 1))
    grads = model.backward(x, a_h, a_out, y)
    assert [g.shape for g in grads] == [(10, 50), (10,), (50, 784), (50,)]
    assert all(g.dtype == np.float32 for g in grads)


def test_the_chapters_update_statement_writes_into_the_model():
    model = NeuralNetMLP(6, 4, 3, dtype=np.float64)
    before = model.weight_h.copy()
    array = model.weight_h
    model.weight_h -= 0.1 * np.ones((4, 6))
    assert model.weight_h is array  # same array: the engine's layer sees the update
    np.testing.assert_allclose(model.weight_h, before - 0.1)
    np.testing.assert_allclose(model.network.layers[0].weight, before - 0.1)
    with pytest.raises(ValueError, match=r"weight_h must have shape \(4, 6\)"):
        model.weight_h = np.zeros((6, 4))


def test_helpers():
    np.testing.assert_array_equal(int_to_onehot(np.array([0, 2]), 3), [[1, 0, 0], [0, 0, 1]])
    assert int_to_onehot(np.array([1]), 2).dtype == np.float64
    assert sigmoid(np.array([0.0]))[0] == 0.5
    assert sigmoid(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]
    assert mse_loss(np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 0.5]]), num_labels=2) == pytest.approx(0.0625)
    assert accuracy(np.array([1, 2, 3]), np.array([1, 2, 0])) == pytest.approx(2 / 3)


def test_manual_chapter_loop_equals_train():
    """The chapter's own loop (forward, backward, update) gives the same weights as train()."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, size=(300, 20))
    y = rng.randint(0, 4, size=300)
    manual = NeuralNetMLP(20, 8, 4, random_seed=5, dtype=np.float64)
    np.random.seed(123)
    for _ in range(3):
        for X_mini, y_mini in minibatch_generator(X, y, 50):
            a_h, a_out = manual.forward(X_mini)
            d_w_out, d_b_out, d_w_h, d_b_h = manual.backward(X_mini, a_h, a_out, y_mini)
            manual.weight_h -= 0.1 * d_w_h
            manual.bias_h -= 0.1 * d_b_h
            manual.weight_out -= 0.1 * d_w_out
            manual.bias_out -= 0.1 * d_b_out
    engine = NeuralNetMLP(20, 8, 4, random_seed=5, dtype=np.float64)
    np.random.seed(123)
    train(engine, X, y, X[:50], y[:50], num_epochs=3, learning_rate=0.1, minibatch_size=50, log=None, progress=False)
    for name in ("weight_h", "bias_h", "weight_out", "bias_out"):
        np.testing.assert_allclose(getattr(engine, name), getattr(manual, name), rtol=1e-12, err_msg=name)


def test_compute_mse_and_acc_divides_by_the_number_of_examples():
    model = NeuralNetMLP(5, 4, 3, dtype=np.float64)
    rng = np.random.RandomState(1)
    X = rng.normal(size=(250, 5))
    y = rng.randint(0, 3, size=250)
    _, probas = model.forward(X)
    expected_mse = np.mean((int_to_onehot(y, 3) - probas) ** 2)
    expected_acc = np.mean(np.argmax(probas, axis=1) == y)
    mse, acc = compute_mse_and_acc(model, X, y, num_labels=3, minibatch_size=100)  # 100 + 100 + 50
    assert mse == pytest.approx(expected_mse, rel=1e-12)
    assert acc == pytest.approx(expected_acc)


def test_train_prints_the_chapters_log_and_learns(data_dir, capsys):
    data = load_chapter_data("mnist", data_dir=data_dir, limit=14000)
    model = NeuralNetMLP(784, 50, 10)
    np.random.seed(123)
    epoch_loss, train_acc, valid_acc = train(
        model, data.X_train, data.y_train, data.X_valid, data.y_valid, num_epochs=8, learning_rate=0.1, progress=False
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 8
    assert lines[0].startswith("Epoch: 001/008 | Train MSE: ")
    assert "| Train Acc: " in lines[0] and lines[0].endswith("%")
    assert len(epoch_loss) == len(train_acc) == len(valid_acc) == 8
    assert valid_acc[-1] > 70.0  # percent, as the chapter returns them; chance is 10%
    assert epoch_loss[-1] < epoch_loss[0]
    _, test_acc = compute_mse_and_acc(model, data.X_test, data.y_test)
    assert test_acc > 0.70
    assert model.history["valid_acc"][-1] * 100 == pytest.approx(valid_acc[-1])


def test_initial_metrics_match_the_chapter(data_dir):
    """The chapter prints an initial validation MSE of 0.3 and accuracy of 9.4%."""
    data = load_chapter_data("mnist", data_dir=data_dir)
    model = NeuralNetMLP(784, 50, 10)
    mse, acc = compute_mse_and_acc(model, data.X_valid, data.y_valid)
    assert f"{mse:.1f}" == "0.3"
    assert f"{acc * 100:.1f}%" == "9.4%"
