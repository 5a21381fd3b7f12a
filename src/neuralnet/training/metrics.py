"""What is measured of a network on a data set: loss, mean squared error, accuracy, confusion."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..engine.network import Network

__all__ = ["evaluate", "confusion_matrix"]


def evaluate(network: Network, X: np.ndarray, Y: np.ndarray, labels: np.ndarray | None = None,
             batch_size: int = 10_000, preprocess: Callable[[np.ndarray], np.ndarray] | None = None
             ) -> dict[str, float]:
    """Mean loss, mean squared error and accuracy over all of X, in batches of batch_size.

    ``mse`` is the chapter's ``mse_loss``: the mean of (probability - target)^2 over every
    example *and* output. Sums are accumulated over all batches and divided by the number
    of examples (not the number of batches), so a smaller last batch is weighted right. Batches are
    smaller than ``batch_size`` where the network's activations would be large (convolutions).
    ``preprocess`` turns each batch of raw X into network input (e.g. ``PixelScaler``).
    """
    n = X.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty data set")
    batch_size = network.inference_batch(batch_size)
    loss_total = 0.0
    squared_total = 0.0
    correct = 0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        x = X[start:stop]
        output = network.forward(network.as_input(x if preprocess is None else preprocess(x)))
        targets = Y[start:stop]
        loss_total += network.loss.total(output, targets)
        diff = network.loss.probabilities(output) - targets
        squared_total += float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
        if labels is not None:
            correct += int(np.count_nonzero(np.argmax(output, axis=1) == labels[start:stop]))
    result = {"loss": loss_total / n, "mse": squared_total / (n * Y.shape[1])}
    result["acc"] = correct / n if labels is not None else float("nan")
    return result


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = number of examples of class i predicted as class j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return counts
