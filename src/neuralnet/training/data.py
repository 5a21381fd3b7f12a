"""The one place that checks a data set before a network trains on it or is measured on it,
and turns class labels into the targets the losses take."""

from __future__ import annotations

import numpy as np

from ..engine.network import Network

__all__ = ["one_hot", "prepare_targets", "check_data", "check_weights"]


def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """Integer labels -> one-hot rows, without a Python loop.

    Parameters
    ----------
    labels : ndarray of shape [n]
        Class indices in [0, num_classes) (integers, or floats with whole values).
    num_classes : int
        The number of classes.
    dtype : numpy dtype, default float32
        The rows' dtype.

    Returns
    -------
    ndarray of shape [n, num_classes]

    Raises
    ------
    TypeError
        For labels that are not numbers.
    ValueError
        For labels that are not 1-D, not whole numbers, or out of range.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.dtype.kind not in "iuf":
        raise TypeError(f"labels must be integers 0..{num_classes - 1}, got an array of dtype {labels.dtype}")
    if labels.size and labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (np.floor(labels) == labels)
        if not whole.all():
            bad = labels[~whole][0].item()
            raise ValueError(f"label {bad!r} is not an integer: expected integers in [0, {num_classes - 1}]")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"label {bad} is out of range: expected integers in [0, {num_classes - 1}]")
    return np.eye(num_classes, dtype=dtype)[labels]


def prepare_targets(network: Network, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets for the loss and labels for accuracy.

    Parameters
    ----------
    network : Network
        The network the targets are for.
    y : ndarray of shape [n] or [n, n_outputs]
        Integer class labels [n], which become one-hot rows (returned with the labels), or a
        float matrix [n, n_outputs], used as is (regression: no labels, no accuracy).

    Returns
    -------
    targets : ndarray of shape [n, n_outputs]
        In the network's dtype.
    labels : ndarray of int64, shape [n], or None
        The class indices; None for regression targets.
    """
    y = np.asarray(y)
    if y.ndim == 1:
        labels = y.astype(np.int64, copy=False) if np.issubdtype(y.dtype, np.integer) else y
        return one_hot(labels, network.n_outputs, network.dtype), np.asarray(labels, dtype=np.int64)
    if y.ndim == 2 and y.shape[1] == network.n_outputs:
        if y.dtype.kind not in "iuf":
            raise TypeError(f"targets must be numbers, got an array of dtype {y.dtype}")
        if y.size and not (np.isfinite(y.min()) and np.isfinite(y.max())):
            raise ValueError("targets y contain NaN or infinite values; expected finite numbers")
        return np.ascontiguousarray(y, dtype=network.dtype), None
    raise ValueError(f"y must be class labels [n] or targets [n, {network.n_outputs}], got shape {y.shape}")


def check_data(
    network: Network, X, y, name: str = "train", raw: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The one place that checks a data set before training on it or evaluating it.

    Parameters
    ----------
    network : Network
        The network the data are for.
    X : array_like of shape [n, *input_shape] or [n, n_features]
        The examples.
    y : array_like of shape [n] or [n, n_outputs]
        Class labels, or regression targets.
    name : str, default "train"
        The set's name in messages (``X_train``, ``y_train``).
    raw : bool, default False
        Leave X as it is (converted batch by batch by a ``preprocess`` function).

    Returns
    -------
    X : ndarray of shape [n, *input_shape]
        In the network's dtype and input shape (as given when ``raw``).
    Y : ndarray of shape [n, n_outputs]
        The targets for the loss.
    labels : ndarray of shape [n] or None
        The class indices (None for regression targets).

    Raises
    ------
    TypeError
        For arrays that do not hold numbers.
    ValueError
        Naming the bad value and what was expected, for everything else: wrong shape, no
        examples, NaN or infinite values, labels out of range, X and y of different lengths.
    """
    x_name, y_name = f"X_{name}", f"y_{name}"
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        raise TypeError(f"{x_name} must hold numbers (floats, or integer pixels), got an array of dtype {X.dtype}")
    expected = (
        f"[n_examples, {network.n_features}]"
        if len(network.input_shape) == 1
        else f"[n_examples, {', '.join(map(str, network.input_shape))}] or [n_examples, {network.n_features}]"
    )
    if X.ndim < 2:
        hint = "; for a single example use X.reshape(1, -1)" if X.ndim == 1 else ""
        raise ValueError(
            f"{x_name} must be {'2-D ' if len(network.input_shape) == 1 else ''}{expected}, got shape {X.shape}{hint}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{x_name} is empty (shape {X.shape}): expected at least one example")
    if X.ndim == 2 and len(network.input_shape) == 1 and X.shape[1] != network.n_features:
        raise ValueError(f"{x_name} has {X.shape[1]} features, but the network expects {network.n_features}")
    if X.shape[1:] != network.input_shape and not (X.ndim == 2 and X.shape[1] == network.n_features):
        raise ValueError(f"{x_name} has examples of shape {X.shape[1:]}, but the network expects {expected}")
    # min and max propagate NaN and show infinities: two passes, no temporary array
    if X.dtype.kind == "f" and not (np.isfinite(X.min()) and np.isfinite(X.max())):
        index = tuple(np.argwhere(~np.isfinite(X))[0])
        where = f"row {index[0]}, column {index[1]}" if len(index) == 2 else f"example {index[0]}, index {index[1:]}"
        raise ValueError(f"{x_name} contains {X[index]} at {where}: expected finite numbers")
    if not raw:
        X = network.as_input(X)
    try:
        Y, labels = prepare_targets(network, y)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{y_name}: {error}") from None
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"{x_name} has {X.shape[0]} examples but {y_name} has {Y.shape[0]}")
    return X, Y, labels


def check_weights(weights, n: int, name: str = "sample_weight") -> np.ndarray | None:
    """Per-example weights, checked: finite, >= 0, not all zero.

    Parameters
    ----------
    weights : array_like of shape [n] or None
        One weight per example (None stays None).
    n : int
        The number of examples.
    name : str, default "sample_weight"
        The weights' name in messages.

    Returns
    -------
    ndarray of float64, shape [n], or None

    Raises
    ------
    TypeError
        For weights that are not numbers.
    ValueError
        For a wrong shape, negative or non-finite weights, or weights that are all zero.
    """
    if weights is None:
        return None
    weights = np.asarray(weights)
    if weights.dtype.kind not in "iuf" or weights.dtype == bool:
        raise TypeError(f"{name} must hold numbers, got an array of dtype {weights.dtype}")
    weights = weights.astype(np.float64).reshape(-1) if weights.ndim <= 1 else weights
    if weights.ndim != 1 or weights.shape[0] != n:
        raise ValueError(f"{name} has shape {np.shape(weights)}; expected one weight per example, [{n}]")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        bad = weights[~np.isfinite(weights) | (weights < 0)][0]
        raise ValueError(f"{name} holds {bad}; expected finite weights >= 0")
    if not np.any(weights > 0):
        raise ValueError(f"{name} is zero for every example; expected some positive weights")
    return weights
