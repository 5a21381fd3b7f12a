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
from typing import NamedTuple, cast

import numpy as np

from .datasets.batches import minibatch_generator
from .engine.activations import sigmoid as _engine_sigmoid
from .engine.layers import Activation, Dense
from .engine.network import Network, check_float_dtype
from .runs.builder import build_network, build_trainer
from .runs.config import TrainingConfig
from .training.data import one_hot
from .training.history import History, format_chapter_line
from .training.metrics import evaluate

__all__ = [
    "NeuralNetMLP",
    "sigmoid",
    "int_to_onehot",
    "minibatch_generator",
    "mse_loss",
    "accuracy",
    "compute_mse_and_acc",
    "train",
    "ChapterHistory",
]


def sigmoid(z):
    """The logistic sigmoid 1 / (1 + exp(-z)), stable for any z (no overflow warning).

    Parameters
    ----------
    z : array-like of any shape
        The net inputs; integers are computed in float64.

    Returns
    -------
    ndarray of the shape of z
        The activations, in (0, 1).
    """
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    return _engine_sigmoid(z)


def int_to_onehot(y, num_labels):
    """Class labels as one-hot rows (vectorised).

    Parameters
    ----------
    y : array-like of shape [n]
        Class labels, integers 0..num_labels-1.
    num_labels : int
        The number of classes.

    Returns
    -------
    ndarray of shape [n, num_labels]
        float64 rows, 1 in the column of each label and 0 elsewhere.
    """
    return one_hot(y, num_labels, dtype=np.float64)


class NeuralNetMLP:
    """The chapter's MLP with one sigmoid hidden layer and a sigmoid output layer.

    Parameters
    ----------
    num_features : int
        Inputs per example (784 for MNIST).
    num_hidden : int
        Hidden units.
    num_classes : int
        Output units, one per class.
    random_seed : int
        Seed of the one ``RandomState`` that draws ``weight_h``, then ``weight_out``, as the
        chapter does.
    dtype : numpy float dtype
        Floating-point type of the weights and the computation (``np.float64`` reproduces the
        chapter's arithmetic).

    Attributes
    ----------
    network : Network
        The engine network (Dense, sigmoid, Dense, sigmoid, MSE) that holds the weights.
    history : History
        The full history of the last ``train`` (absent before).
    """

    history: History  # set by train (absent before)

    def __init__(self, num_features, num_hidden, num_classes, random_seed=123, dtype=np.float32):
        self.num_features = num_features
        self.num_hidden = num_hidden
        self.num_classes = num_classes
        self.random_seed = random_seed
        self.dtype = check_float_dtype(dtype)
        # the chapter's network in the configuration vocabulary; one RandomState(random_seed)
        # draws weight_h, then weight_out, as the chapter does
        config = TrainingConfig(
            hidden=[num_hidden],
            activation="sigmoid",
            loss="mse",
            init="normal",
            dtype=self.dtype.name,
            seed=random_seed,
        )
        self.network: Network = build_network(config, (num_features,), num_classes)
        hidden, hidden_activation, output, output_activation = self.network.layers
        # the builder makes this configuration's network as Dense, Activation, Dense, Activation
        self._hidden, self._output = cast(Dense, hidden), cast(Dense, output)
        self._hidden_activation = cast(Activation, hidden_activation)
        self._output_activation = cast(Activation, output_activation)

    def __reduce__(self):  # a copy or a pickle: the constructor, then the weights
        return (
            _rebuild_chapter_model,
            (
                (self.num_features, self.num_hidden, self.num_classes, self.random_seed, self.dtype),
                self.network.flat_values.copy(),
                self.__dict__.get("history"),
            ),
        )

    # The chapter's four attributes are the engine layers' arrays. Assigning to one
    # (including the chapter's ``model.weight_h -= lr * grad``) writes into that array.
    def _set(self, array: np.ndarray, value, name: str) -> None:
        if value is array:
            return
        value = np.asarray(value)
        if value.shape != array.shape:
            raise ValueError(f"{name} must have shape {array.shape}, got {value.shape}")
        np.copyto(array, value, casting="same_kind")

    weight_h = property(
        lambda self: self._hidden.weight,
        lambda self, v: self._set(self._hidden.weight, v, "weight_h"),
        doc="[num_hidden, num_features] weights of the hidden layer",
    )
    bias_h = property(
        lambda self: self._hidden.bias,
        lambda self, v: self._set(self._hidden.bias, v, "bias_h"),
        doc="[num_hidden] biases of the hidden layer",
    )
    weight_out = property(
        lambda self: self._output.weight,
        lambda self, v: self._set(self._output.weight, v, "weight_out"),
        doc="[num_classes, num_hidden] weights of the output layer",
    )
    bias_out = property(
        lambda self: self._output.bias,
        lambda self, v: self._set(self._output.bias, v, "bias_out"),
        doc="[num_classes] biases of the output layer",
    )

    def forward(self, x):
        """The forward pass: the hidden and the output layer's activations.

        Parameters
        ----------
        x : array-like of shape [n_examples, n_features]
            The examples (converted to the model's dtype).

        Returns
        -------
        a_h : ndarray of shape [n_examples, n_hidden]
            The hidden layer's activations, sigmoid(x W_h^T + b_h).
        a_out : ndarray of shape [n_examples, n_classes]
            The output layer's activations, sigmoid(a_h W_out^T + b_out).
        """
        x = self.network.as_input(x)
        # z_h = x W_h^T + b_h: [n, n_features] @ [n_features, n_hidden] -> [n, n_hidden]
        a_h = self._hidden_activation.forward(self._hidden.forward(x))
        # z_out = a_h W_out^T + b_out: [n, n_hidden] @ [n_hidden, n_classes] -> [n, n_classes]
        a_out = self._output_activation.forward(self._output.forward(a_h))
        return a_h, a_out

    def backward(self, x, a_h, a_out, y):
        """Gradients of the MSE loss (1/n) sum (a_out - onehot(y))^2, in the chapter's order.

        Parameters
        ----------
        x : array-like of shape [n_examples, n_features]
            The examples.
        a_h : array-like of shape [n_examples, n_hidden]
            Their hidden activations, from ``forward(x)``.
        a_out : array-like of shape [n_examples, n_classes]
            Their output activations, from ``forward(x)``.
        y : array-like of shape [n_examples]
            Their class labels.

        Returns
        -------
        d_loss__dw_out : ndarray of shape [n_classes, n_hidden]
            dL/dW_out.
        d_loss__db_out : ndarray of shape [n_classes]
            dL/db_out.
        d_loss__d_w_h : ndarray of shape [n_hidden, n_features]
            dL/dW_h.
        d_loss__d_b_h : ndarray of shape [n_hidden]
            dL/db_h.
        """
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
        """Predicted class labels (argmax of a_out).

        Parameters
        ----------
        X : array-like of shape [n_examples, n_features]
            The examples.

        Returns
        -------
        ndarray of shape [n_examples]
            The class index of each example.
        """
        return self.network.predict(X)


def _rebuild_chapter_model(arguments, flat_values, history) -> NeuralNetMLP:
    model = NeuralNetMLP(*arguments)
    model.network.load_flat_values(flat_values)
    if history is not None:
        model.history = history
    return model


def mse_loss(targets, probas, num_labels=10):
    """The chapter's MSE: mean of (onehot(targets) - probas)^2 over all examples and classes.

    Parameters
    ----------
    targets : array-like of shape [n]
        Class labels.
    probas : array-like of shape [n, num_labels]
        The output activations.
    num_labels : int
        The number of classes.

    Returns
    -------
    float
        The mean squared error.
    """
    onehot_targets = int_to_onehot(targets, num_labels=num_labels)
    return np.mean((onehot_targets - probas) ** 2)


def accuracy(targets, predicted_labels):
    """Fraction of predicted labels equal to the targets.

    Parameters
    ----------
    targets : array-like of shape [n]
        The true class labels.
    predicted_labels : array-like of shape [n]
        The predicted class labels.

    Returns
    -------
    float
        The accuracy, from 0 to 1.
    """
    return np.mean(np.asarray(predicted_labels) == np.asarray(targets))


def compute_mse_and_acc(nnet, X, y, num_labels=10, minibatch_size=100):
    """MSE and accuracy over all of X, a mini-batch at a time (memory-efficient).

    Unlike the chapter's listing it neither shuffles nor drops the last partial batch, and
    it averages over examples: total squared error / (n * num_labels), correct / n.

    Parameters
    ----------
    nnet : NeuralNetMLP or Network or object
        The model: a ``NeuralNetMLP``, an engine ``Network``, or any other object with the
        chapter's ``forward(x) -> (a_h, a_out)``.
    X : array-like of shape [n, n_features]
        The examples.
    y : array-like of shape [n]
        Their class labels.
    num_labels : int
        The number of classes (that of the model's outputs).
    minibatch_size : int
        Examples per mini-batch.

    Returns
    -------
    mse : float
        The mean squared error between the one-hot labels and the outputs.
    acc : float
        The accuracy, from 0 to 1.

    Raises
    ------
    ValueError
        If ``num_labels`` is not the number of the network's outputs.
    """
    y = np.asarray(y)
    network = nnet.network if isinstance(nnet, NeuralNetMLP) else nnet
    if isinstance(network, Network):
        if network.n_outputs != num_labels:
            raise ValueError(f"num_labels={num_labels}, but the model has {network.n_outputs} outputs")
        metrics = evaluate(
            network,
            network.as_input(X),
            one_hot(y, num_labels, network.dtype),
            y.astype(np.int64),
            batch_size=minibatch_size,
        )
        return metrics["mse"], metrics["acc"]
    # any other object with the chapter's forward(x) -> (a_h, a_out)
    squared_error, correct = 0.0, 0
    for start in range(0, len(y), minibatch_size):
        _, probas = nnet.forward(X[start : start + minibatch_size])
        targets = y[start : start + minibatch_size]
        squared_error += float(np.sum((int_to_onehot(targets, num_labels) - probas) ** 2))
        correct += int(np.sum(np.argmax(probas, axis=1) == targets))
    return squared_error / (len(y) * num_labels), correct / len(y)


class ChapterHistory(NamedTuple):
    """What the chapter's ``train`` returns: per-epoch train MSE, train and valid accuracy (%).

    Attributes
    ----------
    epoch_loss : list of float
        The training MSE after each epoch.
    epoch_train_acc : list of float
        The training accuracy after each epoch, in percent.
    epoch_valid_acc : list of float
        The validation accuracy after each epoch, in percent.
    """

    epoch_loss: list
    epoch_train_acc: list
    epoch_valid_acc: list


def train(
    model,
    X_train,
    y_train,
    X_valid,
    y_valid,
    num_epochs,
    learning_rate=0.1,
    minibatch_size=100,
    *,
    rng=None,
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    threads: int | None = None,
    callbacks=(),
):
    """The chapter's training loop: mini-batch SGD on the MSE loss for ``num_epochs`` epochs.

    The chapter's line is printed after each epoch. Mini-batches are shuffled as the chapter
    does, from NumPy's global random state (call ``np.random.seed(123)`` first, as the chapter
    does) unless ``rng`` is given.

    Parameters
    ----------
    model : NeuralNetMLP
        The model, trained in place; the full history is then ``model.history``.
    X_train : array-like of shape [n_train, n_features]
        The training examples.
    y_train : array-like of shape [n_train]
        Their class labels.
    X_valid : array-like of shape [n_valid, n_features]
        The validation examples.
    y_valid : array-like of shape [n_valid]
        Their class labels.
    num_epochs : int
        The number of epochs.
    learning_rate : float
        The SGD learning rate.
    minibatch_size : int
        Examples per mini-batch.
    rng : int or numpy.random.RandomState or None
        What shuffles the mini-batches, a seed or a ``RandomState`` (None: NumPy's global
        random state).
    log : callable or None
        Called with the chapter's line after each epoch (None: silent).
    progress : bool or None
        Show a progress bar per epoch (None: on a terminal).
    threads : int or None
        BLAS threads (None: the trainer's choice).
    callbacks : sequence of Callback
        Hooks into training (``neuralnet.training.callbacks``).

    Returns
    -------
    ChapterHistory
        ``(epoch_loss, epoch_train_acc, epoch_valid_acc)``, accuracies in percent.
    """
    trainer = build_trainer(TrainingConfig(lr=learning_rate), model.network, rng=rng)
    print_row = None if log is None else (lambda row: log(format_chapter_line(row, num_epochs)))
    history = trainer.fit(
        X_train,
        y_train,
        epochs=num_epochs,
        batch_size=minibatch_size,
        X_valid=X_valid,
        y_valid=y_valid,
        log=print_row,
        progress=progress,
        threads=threads,
        callbacks=callbacks,
    )
    model.history = history
    return ChapterHistory(
        history["train_mse"], [a * 100 for a in history["train_acc"]], [a * 100 for a in history["valid_acc"]]
    )
