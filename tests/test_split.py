"""Tests for loading the real data and for the chapter's scaling and split."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from neuralnet.datasets import (
    DATASETS,
    DataNotFoundError,
    DataSplit,
    chapter_split,
    load_chapter_data,
    load_fashion_mnist,
    load_mnist,
    scale_pixels,
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def chapter_reference_split(X, y, test_size=10000, valid_size=5000):
    """The chapter's code, verbatim (apart from the sizes)."""
    X_temp, X_test, y_temp, y_test = train_test_split(X, y, test_size=test_size, random_state=123, stratify=y)
    X_train, X_valid, y_train, y_valid = train_test_split(
        X_temp, y_temp, test_size=valid_size, random_state=123, stratify=y_temp
    )
    return X_train, y_train, X_valid, y_valid, X_test, y_test


def class_fractions(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=10) / len(labels)


# Loading --------------------------------------------------------------------------------


def test_load_mnist_shapes_and_dtypes(mnist):
    X, y = mnist
    assert X.shape == (70000, 784) and X.dtype == np.uint8 and X.flags.c_contiguous
    assert y.shape == (70000,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 255


def test_mnist_label_counts_and_order(mnist):
    _, y = mnist
    assert np.bincount(y[:60000]).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y[60000:]).tolist() == MNIST_TEST_COUNTS
    assert y[:5].tolist() == [5, 0, 4, 1, 9]  # training images come first
    assert y[60000:60005].tolist() == [7, 2, 1, 0, 4]


def test_mnist_train_pixel_mean(mnist):
    X, _ = mnist
    assert round(float(X[:60000].mean()), 3) == 33.318


def test_load_mnist_twice_gives_equal_independent_arrays(data_dir, mnist):
    X, y = load_mnist(data_dir=data_dir, download=False)
    np.testing.assert_array_equal(X, mnist[0])
    np.testing.assert_array_equal(y, mnist[1])
    X[0, 0] = 7  # writeable, and not shared with the session fixture
    assert mnist[0][0, 0] == 0


def test_load_fashion_mnist(data_dir):
    try:
        X, y = load_fashion_mnist(data_dir=data_dir, download=False)
    except DataNotFoundError:
        pytest.skip("Fashion-MNIST files not in the data folder")
    assert X.shape == (70000, 784) and X.dtype == np.uint8
    assert np.bincount(y[:60000]).tolist() == [6000] * 10
    assert np.bincount(y[60000:]).tolist() == [1000] * 10
    assert DATASETS["fashion-mnist"].class_names[9] == "Ankle boot"
    assert len(DATASETS["fashion-mnist"].class_names) == 10


# Scaling --------------------------------------------------------------------------------


def test_scale_pixels_values():
    pixels = np.arange(256, dtype=np.uint8)
    scaled = scale_pixels(pixels)
    assert scaled.dtype == np.float32
    assert scaled[0] == -1.0 and scaled[255] == 1.0
    assert scaled[127] == pytest.approx(-1 / 255) and scaled[128] == pytest.approx(1 / 255)
    assert scaled[127] == -scaled[128]  # 127.5 would map to exactly 0
    assert np.all(np.diff(scaled) > 0)
    exact = scale_pixels(pixels, dtype=np.float64)
    assert exact.dtype == np.float64
    np.testing.assert_array_equal(exact, ((pixels / 255.0) - 0.5) * 2)
    np.testing.assert_array_equal(scaled, exact.astype(np.float32))


def test_scale_pixels_keeps_any_shape():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)[:, ::2]
    scaled = scale_pixels(images)
    assert scaled.shape == (2, 2, 4) and scaled.flags.c_contiguous
    np.testing.assert_array_equal(scaled, (((images / 255.0) - 0.5) * 2).astype(np.float32))
    assert scale_pixels(np.uint8(255)) == 1.0


def test_scale_pixels_accepts_integers_in_range():
    np.testing.assert_array_equal(scale_pixels(np.array([0, 255], dtype=np.int64)), [-1, 1])


@pytest.mark.parametrize("bad", [np.array([0.0, 1.0]), np.array([0.5], dtype=np.float32), np.array([True, False])])
def test_scale_pixels_rejects_non_integer_input(bad):
    with pytest.raises(TypeError, match=f"expected uint8 pixel values 0..255.*{bad.dtype}"):
        scale_pixels(bad)


def test_scale_pixels_rejects_out_of_range_integers():
    with pytest.raises(ValueError, match="from -1 to 256"):
        scale_pixels(np.array([-1, 3, 256]))


def test_scale_pixels_rejects_integer_dtype():
    with pytest.raises(TypeError, match="floating-point.*int32"):
        scale_pixels(np.zeros(3, np.uint8), dtype=np.int32)


# Splitting ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_split(mnist):
    return chapter_split(*mnist)


def test_chapter_split_sizes_and_dtypes(mnist_split):
    assert isinstance(mnist_split, DataSplit)
    assert [len(part) for part in mnist_split] == [55000, 55000, 5000, 5000, 10000, 10000]
    for images in (mnist_split.X_train, mnist_split.X_valid, mnist_split.X_test):
        assert images.shape[1] == 784
        assert images.dtype == np.float32 and images.flags.c_contiguous
        assert images.min() == -1.0 and images.max() == 1.0
    for labels in (mnist_split.y_train, mnist_split.y_valid, mnist_split.y_test):
        assert labels.dtype == np.int64


def test_chapter_split_is_stratified(mnist, mnist_split):
    whole = class_fractions(mnist[1])
    for labels in (mnist_split.y_train, mnist_split.y_valid, mnist_split.y_test):
        assert np.abs(class_fractions(labels) - whole).max() < 0.005


def test_chapter_split_is_deterministic(mnist, mnist_split):
    again = chapter_split(*mnist)
    for first, second in zip(mnist_split, again):
        np.testing.assert_array_equal(first, second)


def test_chapter_split_matches_the_chapter_on_raw_pixels(mnist):
    X, y = mnist
    ours = chapter_split(X, y, scale=False)
    assert ours.X_train.dtype == np.uint8
    for mine, reference in zip(ours, chapter_reference_split(X, y)):
        np.testing.assert_array_equal(mine, reference)


def test_chapter_split_matches_the_chapter_with_scaling(mnist):
    X, y = mnist[0][:7000], mnist[1][:7000]
    reference = chapter_reference_split(((X / 255.0) - 0.5) * 2, y, test_size=1000, valid_size=500)
    exact = chapter_split(X, y, dtype=np.float64, test_size=1000, valid_size=500)
    single = chapter_split(X, y, test_size=1000, valid_size=500)
    assert [len(part) for part in exact] == [5500, 5500, 500, 500, 1000, 1000]
    for mine, mine_single, expected in zip(exact, single, reference):
        np.testing.assert_array_equal(mine, expected)
        np.testing.assert_array_equal(mine_single, expected.astype(mine_single.dtype))


def test_chapter_split_rejects_bad_sizes():
    X = np.zeros((100, 4), np.uint8)
    y = np.arange(100) % 10
    with pytest.raises(ValueError, match="cannot split 100 examples into test_size=60 and valid_size=40"):
        chapter_split(X, y, test_size=60, valid_size=40)
    with pytest.raises(ValueError, match="valid part would have 5 examples, fewer than the 10 classes"):
        chapter_split(X, y, test_size=20, valid_size=5)
    with pytest.raises(ValueError, match="test_size must be a positive number.*0.1"):
        chapter_split(X, y, test_size=0.1)
    with pytest.raises(ValueError, match="X has 100 examples but y has 99 labels"):
        chapter_split(X, y[:99], test_size=20, valid_size=20)


def test_chapter_split_small_custom_sizes():
    X = np.arange(200 * 3, dtype=np.uint8).reshape(200, 3)
    y = np.arange(200) % 10
    parts = chapter_split(X, y, test_size=40, valid_size=20)
    assert [len(part) for part in parts] == [140, 140, 20, 20, 40, 40]
    all_rows = np.concatenate([parts.X_train, parts.X_valid, parts.X_test])
    assert sorted(map(tuple, np.round((all_rows + 1) / 2 * 255).astype(int))) == sorted(map(tuple, X.astype(int)))


# Load and split in one call -------------------------------------------------------------


def test_load_chapter_data_full(data_dir, mnist_split):
    parts = load_chapter_data(data_dir=data_dir, download=False)
    for mine, expected in zip(parts, mnist_split):
        np.testing.assert_array_equal(mine, expected)


@pytest.mark.parametrize("limit, sizes", [(700, (550, 50, 100)), (7000, (5500, 500, 1000)), (1000, (786, 71, 143))])
def test_load_chapter_data_with_limit(data_dir, mnist, limit, sizes):
    parts = load_chapter_data(data_dir=data_dir, limit=limit, download=False)
    assert (len(parts.y_train), len(parts.y_valid), len(parts.y_test)) == sizes
    assert parts.X_train.dtype == np.float32
    for labels in (parts.y_train, parts.y_valid, parts.y_test):
        assert set(labels.tolist()) == set(range(10))
    X, y = mnist
    kept, _ = train_test_split(np.arange(70000), train_size=limit, random_state=123, stratify=y)
    expected = chapter_split(X[kept], y[kept], test_size=sizes[2], valid_size=sizes[1])
    for mine, reference in zip(parts, expected):
        np.testing.assert_array_equal(mine, reference)


def test_load_chapter_data_dtype(data_dir):
    parts = load_chapter_data(data_dir=data_dir, limit=700, dtype=np.float64, download=False)
    assert parts.X_valid.dtype == np.float64


@pytest.mark.parametrize("limit", [699, 0, -5, 70001, 1000.0])
def test_load_chapter_data_rejects_bad_limit(data_dir, limit):
    with pytest.raises(ValueError, match=f"limit must be an integer from 700 to 70000.*{limit}"):
        load_chapter_data(data_dir=data_dir, limit=limit, download=False)
