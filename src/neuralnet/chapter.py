"""The chapter's code, with its names and signatures, computed by the engine.

``NeuralNetMLP(num_features, num_hidden, num_classes, random_seed=123)`` has the chapter's
attributes ``weight_h`` [num_hidden, num_features], ``bias_h``, ``weight_out``
[num_classes, num_hidden] and ``bias_out``, its ``forward(x) -> (a_h, a_out)`` and its
``backward(x, a_h, a_out, y)`` returning the four MSE gradients in the chapter's order.
Behind them is an engine ``Network`` (Dense, sigmoid, Dense, sigmoid, MSE) made by the one
builder from a ``TrainingConfig``, so the sigmoid and the MSE gradient exist once, in
``engine/activations.py`` and ``engine/losses.py``.

Differences from the printed chapter, on purpose:

* float32 by default for speed (``dtype=np.float64`` reproduces the chapter's arithmetic);
* the sigmoid does not overflow for large |z| and ``int_to_onehot`` has no Python loop;
* ``compute_mse_and_acc`` divides the summed squared error by the number of examples;
  the chapter's text divides the sum of per-batch means by ``i``, the index of the last
  batch, which is one fewer than the number of batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .datasets.batches import minibatch_generator
from .engine.activations import sigmoid as _engine_sigmoid
from .engine.network import Network, check_float_dtype
from .runs.builder import build_network, build_trainer
from .runs.config import TrainingConfig
from .training.data import one_hot
from .training.history import format_chapter_line
from .training.metrics import evaluate

__all__ = [
    "NeuralNetMLP", "sigmoid", "int_to_onehot", "minibatch_generator", "mse_loss",
    "accuracy", "compute_mse_and_acc", "train", "ChapterHistory",
]


def sigmoid(z):
    """The logistic sigmoid 1 / (1 + exp(-z)), stable for any z (no overflow warning)."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    return _engine_sigmoid(z)


def int_to_onehot(y, num_labels):
    """Class labels [n] -> one-hot float64 rows [n, num_labels] (vectorised)."""
    return one_hot(y, num_labels, dtype=np.float64)


class NeuralNetMLP:
    """The chapter's MLP with one sigmoid hidden layer and a sigmoid output layer."""

    def __init__(self, num_features, num_hidden, num_classes, random_seed=123, dtype=np.float32):
        self.num_features = num_features
        self.num_hidden = num_hidden
        self.num_classes = num_classes
        self.random_seed = random_seed
        self.dtype = check_float_dtype(dtype)
        # the chapter's network in the configuration vocabulary; one RandomState(random_seed)
        # draws weight_h, then weight_out, as the chapter does
        config = TrainingConfig(hidden=[num_hidden], activation="sigmoid", loss="mse", init="normal",
                                dtype=self.dtype.name, seed=random_seed)
        self.network: Network = build_network(config, (num_features,), num_classes)
        self._hidden, self._hidden_activation, self._output, self._output_activation = self.network.layers

    def __reduce__(self):  # a copy or a pickle: the constructor, then the weights
        return (_rebuild_chapter_model, ((self.num_features, self.num_hidden, self.num_classes, self.random_seed,
                                          self.dtype), self.network.flat_values.copy(), self.__dict__.get("history")))

    # The chapter's four attributes are the engine layers' arrays. Assigning to one
    # (including the chapter's ``model.weight_h -= lr * grad``) writes into that array.
    def _set(self, array: np.ndarray, value, name: str) -> None:
        if value is array:
            return
        value = np.asarray(value)
        if value.shape != array.shape:
            raise ValueError(f"{name} must have shape {array.shape}, got {value.shape}")
        np.copyto(array, value, casting="same_kind")

    weight_h = property(lambda self: self._hidden.weight,
                        lambda self, v: self._set(self._hidden.weight, v, "weight_h"),
                        doc="[num_hidden, num_features] weights of the hidden layer")
    bias_h = property(lambda self: self._hidden.bias,
                      lambda self, v: self._set(self._hidden.bias, v, "bias_h"),
                      doc="[num_hidden] biases of the hidden layer")
    weight_out = property(lambda self: self._output.weight,
                          lambda self, v: self._set(self._output.weight, v, "weight_out"),
                          doc="[num_classes, num_hidden] weights of the output layer")
    bias_out = property(lambda self: self._output.bias,
                        lambda self, v: self._set(self._output.bias, v, "bias_out"),
                        doc="[num_classes] biases of the output layer")

    def forward(self, x):
        """x [n_examples, n_features] -> (a_h [n_examples, n_hidden], a_out [n_examples, n_classes])."""
        x = self.network.as_input(x)
        # z_h = x W_h^T + b_h: [n, n_features] @ [n_features, n_hidden] -> [n, n_hidden]
        a_h = self._hidden_activation.forward(self._hidden.forward(x))
        # z_out = a_h W_out^T + b_out: [n, n_hidden] @ [n_hidden, n_classes] -> [n, n_classes]
        a_out = self._output_activation.forward(self._output.forward(a_h))
        return a_h, a_out

    def backward(self, x, a_h, a_out, y):
        """Gradients of the MSE loss (1/n) sum (a_out - onehot(y))^2, in the chapter's order:
        (d_loss__dw_out, d_loss__db_out, d_loss__dw_h, d_loss__db_h)."""
        x = self.network.as_input(x)
        a_h = np.asarray(a_h, dtype=self.dtype)
        a_out = np.asarray(a_out, dtype=self.dtype)
        y_onehot = one_hot(y, self.num_classes, dtype=self.dtype)
        # dLoss/dOutAct = 2 (a_out - y) / n: [n, n_classes]
        d_loss__d_a_out = self.network.loss.gradient(a_out, y_onehot)
        # delta_out = dLoss/dOutAct * a_out (1 - a_out): [n, n_classes]
        delta_out = self._output_activation.backward(d_loss__d_a_out, a=a_out)
        # dLoss/dW_out = delta_out^T a_h: [n_classes, n_hidden]; dLoss/da_h = delta_out W_out
        d_loss__a_h = self._output.backward(delta_out, x=a_h)
        d_loss__dw_out, d_loss__db_out = self._output.grad_weight.copy(), self._output.grad_bias.copy()
        # delta_h = dLoss/da_h * a_h (1 - a_h): [n, n_hidden]
        delta_h = self._hidden_activation.backward(d_loss__a_h, a=a_h)
        # dLoss/dW_h = delta_h^T x: [n_hidden, n_features]
        self._hidden.backward(delta_h, need_input_grad=False, x=x)
        d_loss__d_w_h, d_loss__d_b_h = self._hidden.grad_weight.copy(), self._hidden.grad_bias.copy()
        return d_loss__dw_out, d_loss__db_out, d_loss__d_w_h, d_loss__d_b_h

    def predict(self, X):
        """Predicted class labels (argmax of a_out)."""
        return self.network.predict(X)


def _rebuild_chapter_model(arguments, flat_values, history) -> NeuralNetMLP:
    model = NeuralNetMLP(*arguments)
    model.network.load_flat_values(flat_values)
    if history is not None:
        model.history = history
    return model


def mse_loss(targets, probas, num_labels=10):
    """The chapter's MSE: mean of (onehot(targets) - probas)^2 over all examples and classes."""
    onehot_targets = int_to_onehot(targets, num_labels=num_labels)
    return np.mean((onehot_targets - probas) ** 2)


def accuracy(targets, predicted_labels):
    """Fraction of predicted labels equal to the targets."""
    return np.mean(np.asarray(predicted_labels) == np.asarray(targets))


def compute_mse_and_acc(nnet, X, y, num_labels=10, minibatch_size=100):
    """MSE and accuracy over all of X, a mini-batch at a time (memory-efficient).

    Unlike the chapter's listing it neither shuffles nor drops the last partial batch, and
    it averages over examples: total squared error / (n * num_labels), correct / n.
    """
    y = np.asarray(y)
    network = nnet.network if isinstance(nnet, NeuralNetMLP) else nnet
    if isinstance(network, Network):
        if network.n_outputs != num_labels:
            raise ValueError(f"num_labels={num_labels}, but the model has {network.n_outputs} outputs")
        metrics = evaluate(network, network.as_input(X), one_hot(y, num_labels, network.dtype),
                           y.astype(np.int64), batch_size=minibatch_size)
        return metrics["mse"], metrics["acc"]
    # any other object with the chapter's forward(x) -> (a_h, a_out)
    squared_error, correct = 0.0, 0
    for start in range(0, len(y), minibatch_size):
        _, probas = nnet.forward(X[start:start + minibatch_size])
        targets = y[start:start + minibatch_size]
        squared_error += float(np.sum((int_to_onehot(targets, num_labels) - probas) ** 2))
        correct += int(np.sum(np.argmax(probas, axis=1) == targets))
    return squared_error / (len(y) * num_labels), correct / len(y)


class ChapterHistory(NamedTuple):
    """What the chapter's ``train`` returns: per-epoch train MSE, train and valid accuracy (%)."""

    epoch_loss: list
    epoch_train_acc: list
    epoch_valid_acc: list


def train(model, X_train, y_train, X_valid, y_valid, num_epochs, learning_rate=0.1,
          minibatch_size=100, *, rng=None, log: Callable[[str], None] | None = print,
          progress: bool | None = None, threads: int | None = None, callbacks=()):
    """The chapter's training loop: mini-batch SGD on the MSE loss for ``num_epochs`` epochs,
    printing the chapter's line after each epoch.

    Mini-batches are shuffled as the chapter does, from NumPy's global random state (call
    ``np.random.seed(123)`` first, as the chapter does) unless ``rng`` (a seed or a
    ``RandomState``) is given. Returns ``(epoch_loss, epoch_train_acc, epoch_valid_acc)``
    with accuracies in percent; the full history is ``model.history``.
    """
    trainer = build_trainer(TrainingConfig(lr=learning_rate), model.network, rng=rng)
    print_row = None if log is None else (lambda row: log(format_chapter_line(row, num_epochs)))
    history = trainer.fit(X_train, y_train, epochs=num_epochs, batch_size=minibatch_size,
                          X_valid=X_valid, y_valid=y_valid, log=print_row, progress=progress,
                          threads=threads, callbacks=callbacks)
    model.history = history
    return ChapterHistory(history["train_mse"],
                          [a * 100 for a in history["train_acc"]],
                          [a * 100 for a in history["valid_acc"]])
