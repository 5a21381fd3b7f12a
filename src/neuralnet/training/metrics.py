"""What is measured of a network on a data set: loss, mean squared error, accuracy, confusion."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..engine.network import Network

__all__ = ["evaluate", "confusion_matrix"]


def evaluate(
    network: Network,
    X: np.ndarray,
    Y: np.ndarray,
    labels: np.ndarray | None = None,
    batch_size: int = 10_000,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    weights: np.ndarray | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Mean loss, mean squared error and accuracy over all of X, in batches of batch_size.

    Sums are accumulated over all batches and divided by the number of examples (not the
    number of batches), so a smaller last batch is weighted right.

    Parameters
    ----------
    network : Network
        The network, evaluated at inference.
    X : ndarray of shape [n, *input_shape] or [n, n_features]
        The examples (raw with ``preprocess``).
    Y : ndarray of shape [n, n_outputs]
        The targets.
    labels : ndarray of shape [n], optional
        The class indices, for the accuracy (NaN without them).
    batch_size : int, default 10_000
        Examples per batch; fewer where the network's activations would be large (convolutions).
    preprocess : callable, optional
        Turns each batch of raw X into network input (e.g. ``PixelScaler``).
    weights : ndarray of shape [n], optional
        Each example's weight (the means are sum_i w_i m_i / sum_i w_i).
    progress : bool, default False
        A progress bar (rate, time left) on a terminal when it takes over 2 seconds.

    Returns
    -------
    dict of str to float
        "loss", the mean loss; "mse", the chapter's ``mse_loss``: the mean of
        (probability - target)^2 over every example *and* output; "acc", the accuracy.

    Raises
    ------
    ValueError
        For an empty data set.
    """
    n = X.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty data set")
    batch_size = network.inference_batch(batch_size)
    loss_total = 0.0
    squared_total = 0.0
    correct: float = 0  # a count, or with weights the sum of the weights of the right answers
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="Evaluating", unit="example", unit_scale=True, leave=False, delay=2, disable=None)
    for start in range(0, n, batch_size):
        if bar is not None:
            bar.update(min(batch_size, n - start))
        stop = min(start + batch_size, n)
        x = X[start:stop]
        output = network.forward(network.as_input(x if preprocess is None else preprocess(x)))
        targets = Y[start:stop]
        diff = network.loss.probabilities(output) - targets
        if weights is None:
            loss_total += network.loss.total(output, targets)
            squared_total += float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
            if labels is not None:
                correct += int(np.count_nonzero(np.argmax(output, axis=1) == labels[start:stop]))
            continue
        w = weights[start:stop]
        loss_total += float(np.dot(w, network.loss.per_example(output, targets)))
        squared_total += float(np.dot(w, np.einsum("ij,ij->i", diff, diff, dtype=np.float64)))
        if labels is not None:
            correct += float(np.sum(w[np.argmax(output, axis=1) == labels[start:stop]]))
    if bar is not None:
        bar.close()
    total = n if weights is None else float(np.sum(weights))
    result = {"loss": loss_total / total, "mse": squared_total / (total * Y.shape[1])}
    result["acc"] = correct / total if labels is not None else float("nan")
    return result


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = number of examples of class i predicted as class j.

    Parameters
    ----------
    y_true, y_pred : ndarray of int, shape [n]
        The true and the predicted classes.
    n_classes : int
        The number of classes.

    Returns
    -------
    ndarray of int64, shape [n_classes, n_classes]
    """
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return counts
