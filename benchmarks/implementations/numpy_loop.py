"""A plain float32 NumPy loop written for the chapter's network only: a yardstick.

What a careful NumPy user writes for 784-50-10 sigmoid, MSE, SGD by hand, without a
library: the weights as four arrays, each mini-batch's forward and backward pass as
straight-line code (float32, weights stored as W^T so every product reads row-major
arrays, gradients written in place), and the evaluation of the training and validation
sets after each epoch, in the same thread, in batches of 10,000. The same initial
weights and shuffling order as neuralnet (``np.random.RandomState(seed).shuffle`` of
``arange(n)``, once per epoch), the same loss and its gradient, the last partial batch
dropped.

It shows how much of neuralnet's time is NumPy's own cost per mini-batch (the matrix
products and a few element-wise passes) rather than the library's layers, checks and
bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .shared_data import Arrays
from .workloads import N_CLASSES, Workload

EVAL_BATCH_SIZE = 10_000  # as neuralnet's Trainer evaluates


def describe(workload: Workload) -> str:
    return (
        "the chapter's network by hand in float32 NumPy (no layers), neuralnet's initial weights "
        "and shuffling order, evaluation in the training thread"
    )


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) in place (exp overflows to inf for very negative z: the result is 0)."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


class ChapterNetwork:
    """784-50-10, sigmoid hidden and output units, the chapter's MSE, plain SGD."""

    def __init__(self, weights):
        (w_hidden, b_hidden), (w_out, b_out) = weights  # W [n_out, n_in], as the chapter stores them
        self.w_hidden_t = np.ascontiguousarray(w_hidden.T, dtype=np.float32)  # [784, 50]
        self.b_hidden = b_hidden.astype(np.float32)
        self.w_out_t = np.ascontiguousarray(w_out.T, dtype=np.float32)  # [50, 10]
        self.b_out = b_out.astype(np.float32)
        self.grad_w_hidden_t = np.empty_like(self.w_hidden_t)
        self.grad_w_out_t = np.empty_like(self.w_out_t)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hidden = x @ self.w_hidden_t
        hidden += self.b_hidden
        sigmoid(hidden)
        out = hidden @ self.w_out_t
        out += self.b_out
        return hidden, sigmoid(out)

    def sgd_step(self, x: np.ndarray, onehot: np.ndarray, lr: float) -> None:
        hidden, out = self.forward(x)
        # dL/dz_out = 2 (a - y) / n * a (1 - a)
        delta_out = out - onehot
        delta_out *= 2.0 / x.shape[0]
        delta_out *= out
        delta_out *= 1.0 - out
        np.matmul(hidden.T, delta_out, out=self.grad_w_out_t)
        grad_b_out = delta_out.sum(axis=0)
        # dL/dz_hidden = delta_out W_out * h (1 - h)
        delta_hidden = delta_out @ self.w_out_t.T
        delta_hidden *= hidden
        delta_hidden *= 1.0 - hidden
        np.matmul(x.T, delta_hidden, out=self.grad_w_hidden_t)
        grad_b_hidden = delta_hidden.sum(axis=0)
        self.grad_w_hidden_t *= -lr
        self.w_hidden_t += self.grad_w_hidden_t
        self.grad_w_out_t *= -lr
        self.w_out_t += self.grad_w_out_t
        self.b_hidden -= lr * grad_b_hidden
        self.b_out -= lr * grad_b_out

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict:
        """The loss (squared error summed over the classes, averaged over the examples, as
        neuralnet and the PyTorch run report it) and the accuracy."""
        squared, correct = 0.0, 0
        for start in range(0, X.shape[0], EVAL_BATCH_SIZE):
            _, out = self.forward(X[start : start + EVAL_BATCH_SIZE])
            labels = y[start : start + EVAL_BATCH_SIZE]
            correct += int(np.count_nonzero(out.argmax(axis=1) == labels))
            out[np.arange(out.shape[0]), labels] -= 1.0  # a - y for one-hot y
            squared += float(np.vdot(out, out))
        return {"loss": squared / X.shape[0], "acc": correct / X.shape[0]}


def train(workload: Workload, arrays: Arrays, weights, on_epoch: Callable[[int, int, dict], None]) -> dict:
    network = ChapterNetwork(weights)
    onehot = np.eye(N_CLASSES, dtype=np.float32)[arrays.y_train]
    X = arrays.X_train
    rng = np.random.RandomState(workload.seed)  # neuralnet's shuffling RNG
    stop = X.shape[0] - X.shape[0] % workload.batch_size
    epoch_seconds = []
    started = time.perf_counter()
    with np.errstate(over="ignore"):
        for epoch in range(1, workload.epochs + 1):
            epoch_started = time.perf_counter()
            order = np.arange(X.shape[0])
            rng.shuffle(order)
            for start in range(0, stop, workload.batch_size):
                batch = order[start : start + workload.batch_size]
                network.sgd_step(X[batch], onehot[batch], workload.lr)
            epoch_seconds.append(time.perf_counter() - epoch_started)
            metrics = {}
            for name in workload.evaluated:
                result = network.evaluate(*arrays.evaluation_set(name))
                metrics.update({f"{name}_loss": result["loss"], f"{name}_acc": result["acc"]})
            on_epoch(epoch, workload.epochs, metrics)
        seconds = time.perf_counter() - started
        _, test_out = network.forward(arrays.X_test)
    return {
        "seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "epochs": workload.epochs,
        "test_acc": float(np.mean(test_out.argmax(axis=1) == arrays.y_test)),
        "examples_trained_per_epoch": stop,
        "examples_evaluated_per_epoch": arrays.count(workload.evaluated),
    }
