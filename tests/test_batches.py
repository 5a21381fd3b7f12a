"""Tests for the chapter's minibatch generator."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.datasets import minibatch_generator


def chapter_minibatch_generator(X, y, minibatch_size):
    """The chapter's generator, verbatim."""
    indices = np.arange(X.shape[0])
    np.random.shuffle(indices)
    for start_idx in range(0, indices.shape[0] - minibatch_size + 1, minibatch_size):
        batch_idx = indices[start_idx : start_idx + minibatch_size]
        yield X[batch_idx], y[batch_idx]


@pytest.fixture
def data():
    """105 examples whose first feature is their index, and labels = index % 10."""
    X = np.arange(105 * 3).reshape(105, 3)
    return X, np.arange(105) % 10


def batch_indices(batches) -> list[np.ndarray]:
    return [X_batch[:, 0] // 3 for X_batch, _ in batches]


def test_drop_last_skips_partial_batch(data):
    X, y = data
    batches = list(minibatch_generator(X, y, 10, rng=0))
    assert [len(X_batch) for X_batch, _ in batches] == [10] * 10
    indices = np.concatenate(batch_indices(batches))
    assert len(np.unique(indices)) == 100
    for X_batch, y_batch in batches:
        np.testing.assert_array_equal(y_batch, (X_batch[:, 0] // 3) % 10)


def test_keep_last_includes_partial_batch(data):
    X, y = data
    batches = list(minibatch_generator(X, y, 10, rng=0, drop_last=False))
    assert [len(X_batch) for X_batch, _ in batches] == [10] * 10 + [5]
    indices = np.concatenate(batch_indices(batches))
    np.testing.assert_array_equal(np.sort(indices), np.arange(105))  # each exactly once


def test_exact_multiple_has_no_partial_batch(data):
    X, y = data
    for drop_last in (True, False):
        sizes = [len(b) for b, _ in minibatch_generator(X, y, 35, rng=1, drop_last=drop_last)]
        assert sizes == [35, 35, 35]


def test_every_index_once_per_epoch_and_epochs_differ(data):
    X, y = data
    rng = np.random.RandomState(7)
    epochs = [np.concatenate(batch_indices(minibatch_generator(X, y, 1, rng=rng))) for _ in range(3)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(105))
    assert not np.array_equal(epochs[0], epochs[1])


def test_no_shuffle_keeps_order(data):
    X, y = data
    batches = list(minibatch_generator(X, y, 50, shuffle=False, drop_last=False))
    np.testing.assert_array_equal(np.concatenate(batch_indices(batches)), np.arange(105))


def test_random_state_matches_global_seed_and_shuffle():
    n = 1000
    rng = np.random.RandomState(123)
    ours = [
        np.concatenate(batch_indices(minibatch_generator(np.arange(n * 3).reshape(n, 3), np.zeros(n), 100, rng=rng)))
        for _ in range(3)
    ]
    np.random.seed(123)
    for epoch in range(3):
        expected = np.arange(n)
        np.random.shuffle(expected)
        np.testing.assert_array_equal(ours[epoch], expected)


def test_rng_none_uses_global_state_like_the_chapter(data):
    X, y = data
    np.random.seed(5)
    ours = list(minibatch_generator(X, y, 16))
    np.random.seed(5)
    theirs = list(chapter_minibatch_generator(X, y, 16))
    assert len(ours) == len(theirs) == 6
    for (X_ours, y_ours), (X_theirs, y_theirs) in zip(ours, theirs):
        np.testing.assert_array_equal(X_ours, X_theirs)
        np.testing.assert_array_equal(y_ours, y_theirs)


def test_int_seed_and_generator(data):
    X, y = data
    first = batch_indices(minibatch_generator(X, y, 20, rng=3))
    second = batch_indices(minibatch_generator(X, y, 20, rng=np.random.RandomState(3)))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    expected = np.arange(105)
    np.random.default_rng(9).shuffle(expected)
    got = batch_indices(minibatch_generator(X, y, 105, rng=np.random.default_rng(9)))
    np.testing.assert_array_equal(got[0], expected)


def test_batch_larger_than_data(data):
    X, y = data
    assert list(minibatch_generator(X, y, 200, rng=0)) == []
    (only_batch,) = list(minibatch_generator(X, y, 200, rng=0, drop_last=False))
    assert len(only_batch[0]) == 105


@pytest.mark.parametrize(
    "size, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError), ("8", TypeError)]
)
def test_bad_minibatch_size(data, size, error):
    X, y = data
    with pytest.raises(error, match="minibatch_size"):
        minibatch_generator(X, y, size)  # checked at call time, before iterating


def test_length_mismatch(data):
    X, y = data
    with pytest.raises(ValueError, match=r"same number of examples.*\(105, 3\).*\(104,\)"):
        minibatch_generator(X, y[:-1], 10)


def test_bad_rng(data):
    X, y = data
    with pytest.raises(TypeError, match="rng must be None, an integer seed"):
        minibatch_generator(X, y, 10, rng="seed")
