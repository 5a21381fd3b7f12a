"""The chapter's preprocessing: pixel scaling to [-1, 1] and the train/valid/test split.

The chapter does::

    X = ((X / 255.) - .5) * 2
    X_temp, X_test, y_temp, y_test = train_test_split(
        X, y, test_size=10000, random_state=123, stratify=y)
    X_train, X_valid, y_train, y_valid = train_test_split(
        X_temp, y_temp, test_size=5000, random_state=123, stratify=y_temp)

Here the split is done on index arrays (the same permutation) and each part
is scaled afterwards, so the whole data set never exists in float64.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from dataclasses import dataclass

import numpy as np

from .mnist import load_dataset
from .preprocessing import scale_pixels

__all__ = ["DataSplit", "chapter_split", "load_chapter_data", "scale_pixels", "fraction_split"]

CHAPTER_TEST_SIZE = 10_000
CHAPTER_VALID_SIZE = 5_000
CHAPTER_RANDOM_STATE = 123
MIN_LIMIT = 700


@dataclass(frozen=True)
class DataSplit:
    """Training, validation and test parts of a data set, and the shape of one image
    ([channels, height, width]) when the rows are images. Unpacks as the six arrays, as the
    chapter's ``X_train, y_train, X_valid, y_valid, X_test, y_test = ...``. ``y`` parts are class
    indices, or for a regression the (scaled) targets [n, k]."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...] | None = None
    #: what the model file records of the data: the class names (for a regression, the targets'
    #: names), the preprocessing the X parts went through, the scaling of regression targets
    class_names: tuple | None = None
    preprocessing: dict | None = None
    targets: dict | None = None
    features: list[str] | None = None
    source: str = ""

    def __iter__(self):
        return iter((self.X_train, self.y_train, self.X_valid, self.y_valid, self.X_test, self.y_test))

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index):
        return tuple(self)[index]

    def replace(self, **changes) -> DataSplit:
        """A copy with the given fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def chapter_split(
    X: np.ndarray,
    y: np.ndarray,
    dtype=np.float32,
    scale: bool = True,
    test_size: int = CHAPTER_TEST_SIZE,
    valid_size: int = CHAPTER_VALID_SIZE,
    random_state: int = CHAPTER_RANDOM_STATE,
) -> DataSplit:
    """Split ``(X, y)`` into train/valid/test parts exactly as the chapter does.

    First ``test_size`` examples are held out for testing, then ``valid_size`` of the rest for
    validation, both stratified by ``y`` with ``random_state``; for MNIST that gives
    55,000 / 5,000 / 10,000.

    Parameters
    ----------
    X : ndarray of shape [n, n_features]
        The pixels, 0..255.
    y : ndarray of shape [n]
        The class labels (they keep their dtype).
    dtype : numpy dtype, default float32
        The dtype of the scaled image parts.
    scale : bool, default True
        Scale the image parts to [-1, 1] in ``dtype``; otherwise they keep ``X``'s dtype.
    test_size, valid_size : int, default 10_000 and 5_000
        The sizes of the test and validation parts.
    random_state : int, default 123
        The seed of both splits.

    Returns
    -------
    DataSplit
        With the image shape [1, side, side] when the rows are square grayscale images.

    Raises
    ------
    ValueError
        If the sizes do not fit the data (each part needs at least one example per class).
    """
    from sklearn.model_selection import train_test_split  # imported when used: it is large

    X, y = np.asarray(X), np.asarray(y)
    _check_split_sizes(X, y, test_size, valid_size)
    temp_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, random_state=random_state, stratify=y)
    train_idx, valid_idx = train_test_split(
        temp_idx, test_size=valid_size, random_state=random_state, stratify=y[temp_idx]
    )
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = [
        (scale_pixels(X[indices], dtype) if scale else X[indices], y[indices])
        for indices in (train_idx, valid_idx, test_idx)
    ]
    side = int(round(np.sqrt(X.shape[1]))) if X.ndim == 2 else 0
    image_shape = (1, side, side) if side and side * side == X.shape[1] else None  # square grayscale rows
    return DataSplit(X_train, y_train, X_valid, y_valid, X_test, y_test, image_shape=image_shape)


def load_chapter_data(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    dtype=np.float32,
    limit: int | None = None,
    download: bool = True,
    scale: bool = True,
) -> DataSplit:
    """Load a data set and split it as the chapter does, in one call.

    Parameters
    ----------
    name : str, default "mnist"
        The data set (see ``load_dataset``).
    data_dir : str or path, optional
        Where to look for its files first.
    dtype : numpy dtype, default float32
        The dtype of the scaled images.
    limit : int, optional
        N: first keep a stratified subset of N examples (``random_state=123``) and shrink the
        test and validation parts in proportion: ``round(N * 10000 / 70000)`` and
        ``round(N * 5000 / 70000)`` (70000 being the size of the whole data set). N must be at
        least 700.
    download : bool, default True
        Download missing files.
    scale : bool, default True
        Scale the images to [-1, 1]; False keeps them as uint8 pixels.

    Returns
    -------
    DataSplit
        X parts [n_part, 784], y parts [n_part] (see ``chapter_split``).
    """
    X, y = load_dataset(name, data_dir=data_dir, download=download)
    if limit is None:
        return chapter_split(X, y, dtype=dtype, scale=scale)
    n_total = X.shape[0]
    X, y = _stratified_subset(X, y, limit)
    test_size = round(limit * CHAPTER_TEST_SIZE / n_total)
    valid_size = round(limit * CHAPTER_VALID_SIZE / n_total)
    return chapter_split(X, y, dtype=dtype, scale=scale, test_size=test_size, valid_size=valid_size)


def _is_int(value) -> bool:
    """True for Python and NumPy integers, but not for booleans."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_split_sizes(X: np.ndarray, y: np.ndarray, test_size, valid_size) -> None:
    """Raise ValueError if the requested part sizes do not fit the data."""
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} examples but y has {y.shape[0]} labels")
    for label, size in (("test_size", test_size), ("valid_size", valid_size)):
        if not _is_int(size) or size < 1:
            raise ValueError(f"{label} must be a positive number of examples, got {size!r}")
    n_examples = X.shape[0]
    n_classes = len(np.unique(y))
    train_size = n_examples - test_size - valid_size
    if train_size < 1:
        raise ValueError(
            f"cannot split {n_examples} examples into test_size={test_size} and "
            f"valid_size={valid_size} and leave any for training"
        )
    for label, size in (("train", train_size), ("test", test_size), ("valid", valid_size)):
        if size < n_classes:
            raise ValueError(
                f"the {label} part would have {size} examples, fewer than the {n_classes} "
                f"classes; a stratified split of {n_examples} examples into "
                f"{train_size}/{valid_size}/{test_size} needs at least one per class"
            )


def _stratified_subset(X: np.ndarray, y: np.ndarray, limit) -> tuple[np.ndarray, np.ndarray]:
    """Keep a stratified subset of ``limit`` examples (all of them if limit == len)."""
    n_examples = X.shape[0]
    if not _is_int(limit) or not MIN_LIMIT <= limit <= n_examples:
        raise ValueError(
            f"limit must be an integer from {MIN_LIMIT} to {n_examples} (the data set size), got {limit!r}"
        )
    if limit == n_examples:
        return X, y
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(np.arange(n_examples), train_size=limit, random_state=CHAPTER_RANDOM_STATE, stratify=y)
    return X[kept], y[kept]


def fraction_split(
    X: np.ndarray,
    y: np.ndarray,
    valid_fraction: float,
    test_fraction: float | None,
    seed: int,
    stratify: bool,
    class_names=None,
) -> tuple[np.ndarray, ...]:
    """(train, valid[, test]) index arrays: ``test_fraction`` of the examples held out for testing
    (none when None: the data have their own test part), then ``valid_fraction`` of all of them
    for validation, stratified by class when ``stratify``. A ValueError names a class with too few
    examples for the parts."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    parts = 2 if test_fraction is None else 3
    if stratify:
        counts = np.bincount(y).tolist()
        for index, count in enumerate(counts):
            if count < parts:
                name = class_names[index] if class_names is not None else index
                raise ValueError(
                    f"class {name!r} has {count} example{'s' * (count != 1)}, but a stratified split "
                    f"into {'training, validation and test' if parts == 3 else 'training and validation'} "
                    f"parts needs at least {parts} of each class"
                )
    indices = np.arange(n)
    test = np.array([], dtype=np.int64)
    if test_fraction is not None:
        n_test = max(int(round(n * test_fraction)), len(np.unique(y)) if stratify else 1)
        indices, test = train_test_split(indices, test_size=n_test, random_state=seed, stratify=y if stratify else None)
    n_valid = max(int(round(n * valid_fraction)), len(np.unique(y)) if stratify else 1)
    if len(indices) - n_valid < 1:
        raise ValueError(f"{n} examples leave none for training after the validation and test parts")
    train, valid = train_test_split(
        indices, test_size=n_valid, random_state=seed, stratify=y[indices] if stratify else None
    )
    return (train, valid, test) if test_fraction is not None else (train, valid)
