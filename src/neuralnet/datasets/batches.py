"""The chapter's minibatch generator: shuffled mini-batches for one epoch.

The chapter's version::

    def minibatch_generator(X, y, minibatch_size):
        indices = np.arange(X.shape[0])
        np.random.shuffle(indices)
        for start_idx in range(0, indices.shape[0] - minibatch_size + 1, minibatch_size):
            batch_idx = indices[start_idx:start_idx + minibatch_size]
            yield X[batch_idx], y[batch_idx]
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np

__all__ = ["minibatch_generator", "shuffled_indices"]


def minibatch_generator(
    X: np.ndarray,
    y: np.ndarray,
    minibatch_size: int,
    rng=None,
    shuffle: bool = True,
    drop_last: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X[batch_idx], y[batch_idx])`` mini-batches covering one epoch.

    The arguments are checked at call time.

    Parameters
    ----------
    X : ndarray of shape [n, ...]
        The examples.
    y : ndarray of shape [n, ...]
        Their labels or targets.
    minibatch_size : int
        Examples per batch (a positive integer).
    rng : None, int, numpy.random.RandomState or numpy.random.Generator
        The example order is shuffled with ``rng.shuffle`` on first iteration: ``rng=None``
        uses NumPy's global random state (``np.random.shuffle``, as the chapter does), an int
        seeds a new ``np.random.RandomState``, and a ``RandomState`` or ``Generator`` is used
        as is.
    shuffle : bool, default True
        Shuffle the order (else the examples come in order).
    drop_last : bool, default True
        Skip a final partial batch (the chapter's behaviour); otherwise it is yielded too.

    Yields
    ------
    X_batch : ndarray of shape [minibatch_size, ...]
    y_batch : ndarray of shape [minibatch_size, ...]
    """
    X, y = np.asarray(X), np.asarray(y)
    _check_minibatch_size(minibatch_size)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y must have the same number of examples, got X of shape {X.shape} and y of shape {y.shape}"
        )
    shuffle_in_place = _shuffle_function(rng) if shuffle else None
    return _generate_minibatches(X, y, minibatch_size, shuffle_in_place, drop_last)


def _generate_minibatches(X, y, minibatch_size, shuffle_in_place, drop_last):
    """The generator proper: shuffle the indices, then slice them into batches."""
    indices = np.arange(X.shape[0])
    if shuffle_in_place is not None:
        shuffle_in_place(indices)
    stop = indices.shape[0] - minibatch_size + 1 if drop_last else indices.shape[0]
    for start_idx in range(0, stop, minibatch_size):
        batch_idx = indices[start_idx : start_idx + minibatch_size]
        yield X[batch_idx], y[batch_idx]


def _check_minibatch_size(minibatch_size) -> None:
    """Raise TypeError/ValueError unless ``minibatch_size`` is a positive integer."""
    if not isinstance(minibatch_size, numbers.Integral) or isinstance(minibatch_size, (bool, np.bool_)):
        raise TypeError(f"minibatch_size must be an integer, got {minibatch_size!r}")
    if minibatch_size < 1:
        raise ValueError(f"minibatch_size must be at least 1, got {minibatch_size}")


def _shuffle_function(rng):
    """Return the in-place shuffle to use for ``rng`` (see ``minibatch_generator``)."""
    if rng is None:
        return np.random.shuffle
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        return np.random.RandomState(int(rng)).shuffle
    if isinstance(rng, (np.random.RandomState, np.random.Generator)):
        return rng.shuffle
    raise TypeError(
        f"rng must be None, an integer seed, a numpy.random.RandomState or a "
        f"numpy.random.Generator, got {type(rng).__name__}"
    )


def shuffled_indices(n: int, rng=None) -> np.ndarray:
    """This epoch's example order: ``np.arange(n)`` shuffled as ``minibatch_generator`` does
    (same ``rng`` semantics, same random numbers consumed).

    Parameters
    ----------
    n : int
        The number of examples.
    rng : None, int, numpy.random.RandomState or numpy.random.Generator
        See ``minibatch_generator``.

    Returns
    -------
    ndarray of int, shape [n]
    """
    indices = np.arange(n)
    _shuffle_function(rng)(indices)
    return indices
