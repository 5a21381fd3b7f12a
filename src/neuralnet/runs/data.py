"""The one loader of a configuration's data: ``load_data(config) -> DataSplit``.

    dataset mnist / fashion-mnist   the chapter's split (55,000 / 5,000 / 10,000, or ``limit``),
                                    pixels scaled to [-1, 1] as the chapter does
    dataset moons / circles / ...   a toy 2-D problem (``samples``, ``noise``, ``seed``)
    data = "table.csv"              numeric feature columns, the target column ``target``
    data = "arrays.npz"             X, y (and optionally X_test, y_test)
    data = "folder/"                class-named folders of PNG/JPEG images, or the four IDX files

A user's own data are split from ``seed`` into stratified training / validation / test parts
(``valid_fraction``, ``test_fraction``; data with their own test part keep it) and preprocessed
by kind: the chapter's pixel scaling for images, standardization fitted on the training part
for tables and toy points, and for a regression the targets standardized the same way. What
was done is recorded in the split (``preprocessing``, ``targets``) for the model file, so that
``neuralnet.load`` applies it to raw inputs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..datasets.imagefolder import ImageSet, is_idx_folder, read_idx_folder, read_image_folder
from ..datasets.mnist import get_dataset_info
from ..datasets.preprocessing import CHAPTER_PREPROCESSING, PixelScaling, Preprocessing, Standardization
from ..datasets.split import DataSplit, fraction_split, load_chapter_data
from ..datasets.tables import DataError, Table, read_csv, read_npz
from ..datasets.toy import TOY_DATASETS, make_toy
from .config import ConfigError, TrainingConfig

__all__ = ["load_data", "labels_and_classes", "class_name", "image_preprocessing", "TABLE_SUFFIXES"]

#: file names read as CSV tables (the dialect is sniffed: commas, semicolons or tabs)
TABLE_SUFFIXES = {".csv", ".tsv", ".txt"}
#: how a regression's predictions return to the targets' own units
TARGETS_FORMULA = "y = output * std + mean"


def load_data(config: TrainingConfig, data_dir=None, download: bool = True) -> DataSplit:
    """The data of ``config``, split and preprocessed.

    Parameters
    ----------
    config : TrainingConfig
        What to load: its own data (``config.data``), a toy 2-D problem, or MNIST /
        Fashion-MNIST with the chapter's split (``config.dataset``, ``config.limit``).
    data_dir : str or Path or None
        The folder of the MNIST / Fashion-MNIST files (None: the default data folders).
    download : bool
        Download MNIST / Fashion-MNIST files that are missing.

    Returns
    -------
    DataSplit
        The training, validation and test parts, with what the model file records of them
        (class names, preprocessing, the scaling of regression targets).

    Raises
    ------
    DataError
        For bad data (a ValueError), naming the file and what is wrong, before anything is
        written.
    ConfigError
        For a setting that does not fit the data (e.g. ``target`` for a folder of images).
    """
    if config.data is not None:
        return _own_data(config)
    if config.dataset in TOY_DATASETS:
        return _toy_data(config)
    return _chapter_data(config, data_dir, download)


# --- class labels ------------------------------------------------------------------------------


def class_name(value) -> str:
    """A label as a class name: text as it is, whole numbers without their ".0" (3.0 -> "3").

    Parameters
    ----------
    value : object
        A label: text, bytes (decoded as UTF-8), a boolean or a number.

    Returns
    -------
    str
        The class name.
    """
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def labels_and_classes(y) -> tuple[np.ndarray, list[str]]:
    """Class indices of labels, and the class names.

    ``["dog", "cat", "dog"]`` gives ``([1, 0, 1], ["cat", "dog"])``.

    Parameters
    ----------
    y : array-like of shape [n]
        The labels.

    Returns
    -------
    indices : ndarray of shape [n]
        Each label's class index, int64 in 0..k-1.
    names : list of str
        The k class names: the sorted distinct labels (text alphabetically, numbers by value),
        as text (``class_name``).

    Raises
    ------
    ValueError
        If y is not one column [n].
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"class labels must be one column [n], got shape {y.shape}")
    values, indices = np.unique(y, return_inverse=True)
    return indices.reshape(-1).astype(np.int64), [class_name(v) for v in values]


# --- the chapter's data sets and the toy problems ----------------------------------------------


def _chapter_data(config: TrainingConfig, data_dir, download: bool) -> DataSplit:
    """MNIST or Fashion-MNIST split exactly as the chapter does, pixels in [-1, 1] in config.dtype."""
    info = get_dataset_info(config.dataset)
    data = load_chapter_data(
        config.dataset, data_dir=data_dir, dtype=np.dtype(config.dtype), limit=config.limit, download=download
    )
    source = info.title if config.limit is None else f"{info.title} ({config.limit:,} examples)"
    return data.replace(class_names=tuple(info.class_names), preprocessing=dict(CHAPTER_PREPROCESSING), source=source)


def _toy_data(config: TrainingConfig) -> DataSplit:
    """``config.samples`` points of a toy 2-D problem, split like a user's own table."""
    X, y = make_toy(config.dataset, samples=config.samples, noise=config.noise, seed=config.seed)
    names = [str(k) for k in range(TOY_DATASETS[config.dataset])]
    table = Table(X, y, ["x1", "x2"], "class")
    source = f"{config.dataset} ({len(y)} points, noise {config.noise:g})"
    return _classify_table(config, table, y, names, None, source)


# --- a user's own data --------------------------------------------------------------------------


def _own_data(config: TrainingConfig) -> DataSplit:
    source = str(config.data)
    path = Path(source)
    if path.is_dir():
        if config.target is not None:
            raise ConfigError(
                f"target = {config.target!r} is invalid: {source} is a folder of images, whose "
                "classes are its sub-folders (or labels); target names a column of a CSV file",
                ("target",),
            )
        if is_idx_folder(path):
            if config.image_size is not None:
                raise ConfigError(
                    f"image_size = {config.image_size!r} is invalid: {source} holds IDX files, "
                    "whose images are used at their own size",
                    ("image_size",),
                )
            return _image_split(config, read_idx_folder(path), source)
        return _image_split(config, read_image_folder(path, config.image_size), source)
    if not path.exists():
        raise DataError(
            f"{source} does not exist; expected a CSV file, a .npz file, a folder of class folders of "
            "images or a folder of IDX files"
        )
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES | {".npz"}:
        raise DataError(
            f"{source} is neither a CSV file (.csv) nor a NumPy file of arrays (.npz); expected one of "
            "those, or a folder of images"
        )
    if config.image_size is not None:
        raise ConfigError(
            f"image_size = {config.image_size!r} is invalid: {source} is a file, not a folder of images",
            ("image_size",),
        )
    if suffix == ".npz":
        if config.target is not None:
            raise ConfigError(
                f"target = {config.target!r} is invalid: the targets of {source} are its array y; "
                "target names a column of a CSV file",
                ("target",),
            )
        return _table_split(config, read_npz(path), source)
    return _table_split(config, read_csv(path, config.target), source)


def _split(config: TrainingConfig, X, y, has_test: bool, stratify: bool, class_names, source: str):
    """(train, valid[, test]) indices from ``config``'s fractions and seed; a class too small for
    the parts is named with the file."""
    try:
        return fraction_split(
            X, y, config.valid_fraction, None if has_test else config.test_fraction, config.seed, stratify, class_names
        )
    except ValueError as error:
        raise DataError(f"{source}: {error}") from None


def _table_split(config: TrainingConfig, table: Table, source: str) -> DataSplit:
    """A CSV or .npz table: images (uint8, or arrays of 3 or 4 dimensions) go the image way,
    numbers are standardized; classes from the labels, or standardized regression targets."""
    if table.X.ndim > 2 or table.X.dtype == np.uint8:
        return _npz_images(config, table, source)
    if config.task == "regression":
        return _regression_table(config, table, source)
    y = table.y if table.y_test is None else np.concatenate([np.asarray(table.y), np.asarray(table.y_test)])
    labels, names = _class_labels(y, table, source)
    return _classify_table(
        config, table, labels[: len(table.y)], names, None if table.y_test is None else labels[len(table.y) :], source
    )


def _class_labels(y: np.ndarray, table: Table, source: str) -> tuple[np.ndarray, list[str]]:
    """Class indices and names of a table's labels, refusing what cannot be classes."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(
            f"{source}: {table.target} has shape {y.shape}; class labels are one column [n] (for "
            "several numeric targets use task = 'regression')"
        )
    if y.dtype.kind == "f" and y.size and not np.all(np.isfinite(y)):
        raise DataError(f"{source}: {table.target} holds NaN or infinite values; expected class labels")
    if y.dtype.kind == "f" and y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        example = next(float(v) for v in y if not float(v).is_integer())
        raise DataError(
            f"{source}: the target {table.target!r} holds numbers that are not whole (e.g. {example!r}), "
            "so they are not class labels; for numeric targets use task = 'regression' (--task "
            "regression)"
        )
    labels, names = labels_and_classes(y)
    if len(names) < 2:
        raise DataError(f"{source}: every example has the class {names[0]!r}; a classifier needs at least two classes")
    return labels, names


def _classify_table(
    config: TrainingConfig, table: Table, labels: np.ndarray, names, test_labels, source: str
) -> DataSplit:
    """Features X [n, f] standardized with the training part's mean and std, class indices."""
    X = np.asarray(table.X, dtype=np.float64)
    parts = _split(config, X, labels, table.X_test is not None, True, names, source)
    X_test = np.asarray(table.X_test, dtype=np.float64) if table.X_test is not None else X[parts[2]]
    y_test = test_labels if test_labels is not None else labels[parts[2]]
    scaling = Standardization.fit(X[parts[0]], table.features)
    return _finish(
        config,
        scaling,
        (X[parts[0]], X[parts[1]], X_test),
        (labels[parts[0]], labels[parts[1]], y_test),
        names,
        None,
        table.features,
        None,
        source,
    )


def _regression_table(config: TrainingConfig, table: Table, source: str) -> DataSplit:
    """Features standardized as for classes; numeric targets y [n, k] standardized with the
    training part's mean and std (``targets``: predictions are output * std + mean)."""
    for y_name, y in (("targets", table.y), ("test targets", table.y_test)):
        if y is not None and np.asarray(y).dtype.kind not in "iuf":
            example = np.asarray(y).reshape(-1)[0]
            raise ConfigError(
                f"task = 'regression' needs numeric targets, but the {y_name} are text ({source}, "
                f"{table.target!r}: e.g. {str(example)!r}); for class names use task = "
                "'classification'",
                ("task",),
            )
    X = np.asarray(table.X, dtype=np.float64)
    Y = np.asarray(table.y, dtype=np.float64).reshape(len(X), -1)
    if not np.all(np.isfinite(Y)):
        raise DataError(f"{source}: the targets hold NaN or infinite values; expected finite numbers")
    parts = _split(config, X, Y, table.X_test is not None, False, None, source)
    if table.X_test is not None:
        X_test = np.asarray(table.X_test, dtype=np.float64)
        Y_test = np.asarray(table.y_test, dtype=np.float64).reshape(len(X_test), -1)
        if Y_test.shape[1] != Y.shape[1]:
            raise DataError(f"{source}: y_test has {Y_test.shape[1]} targets per example, y {Y.shape[1]}")
    else:
        X_test, Y_test = X[parts[2]], Y[parts[2]]
    names = [table.target] if Y.shape[1] == 1 else [f"{table.target}{j}" for j in range(Y.shape[1])]
    targets = Standardization.fit(Y[parts[0]])
    scaled = [(part - targets.mean) / targets.std for part in (Y[parts[0]], Y[parts[1]], Y_test)]  # [n, k], float64
    scaling = Standardization.fit(X[parts[0]], table.features)
    return _finish(
        config,
        scaling,
        (X[parts[0]], X[parts[1]], X_test),
        scaled,
        names,
        {"formula": TARGETS_FORMULA, "mean": targets.mean.tolist(), "std": targets.std.tolist()},
        table.features,
        None,
        source,
    )


# --- images ------------------------------------------------------------------------------------


def image_preprocessing(image_shape) -> dict:
    """The chapter's pixel scaling as the model file records it, for images given as rows.

    Parameters
    ----------
    image_shape : sequence of int
        [channels, height, width] of the images.

    Returns
    -------
    dict
        The preprocessing record: the chapter's own dict for 28x28 grayscale, else the pixel
        scaling with ``image_shape``.
    """
    channels, height, width = (int(size) for size in image_shape)
    if (channels, height, width) == (1, 28, 28):
        return dict(CHAPTER_PREPROCESSING)
    kind = f"{height}x{width} image" if channels == 1 else f"{channels}x{height}x{width} image, channels first"
    text = f"raw pixels in [0, 255], shape (n, {channels * height * width}), rows of the {kind}"
    return {**PixelScaling(text).to_dict(), "image_shape": [channels, height, width]}


def _image_split(config: TrainingConfig, images: ImageSet, source: str) -> DataSplit:
    """uint8 image rows [n, c*h*w] with their classes, scaled to [-1, 1] as the chapter does."""
    if config.task == "regression":
        raise ConfigError(
            f"task = 'regression' needs numeric targets, but {source} holds images of classes "
            f"({', '.join(map(str, images.class_names[:5]))}...)",
            ("task",),
        )
    has_test = images.X_test is not None
    parts = _split(config, images.X, images.y, has_test, True, images.class_names, source)
    X_test = images.X_test if has_test else images.X[parts[2]]
    y_test = images.y_test if has_test else images.y[parts[2]]
    scaling = PixelScaling()
    return _finish(
        config,
        scaling,
        (images.X[parts[0]], images.X[parts[1]], X_test),
        (images.y[parts[0]], images.y[parts[1]], y_test),
        images.class_names,
        None,
        None,
        images.image_shape,
        source,
        preprocessing=image_preprocessing(images.image_shape),
    )


def _npz_images(config: TrainingConfig, table: Table, source: str) -> DataSplit:
    """Images from an .npz: X [n, h, w] (one channel), [n, c, h, w], or uint8 rows [n, features]
    (square ones are grayscale images). Pixels 0 to 255 are scaled as the chapter does; other
    values are standardized pixel by pixel."""
    X, X_test = np.asarray(table.X), table.X_test
    if X.ndim > 4:
        raise DataError(
            f"{source}: X has shape {X.shape}; expected [examples, features], images [n, height, width] "
            "or [n, channels, height, width]"
        )
    if X_test is not None and X_test.shape[1:] != X.shape[1:]:
        raise DataError(
            f"{source}: X has examples of shape {X.shape[1:]}, X_test {X_test.shape[1:]}; expected one shape"
        )
    image_shape = _image_shape_of(X.shape[1:])
    rows = X.reshape(len(X), -1)
    test_rows = None if X_test is None else np.asarray(X_test).reshape(len(X_test), -1)
    pixels = all(_are_pixels(part) for part in (rows, test_rows) if part is not None)
    if config.task == "regression" or not pixels:
        # not pixels 0..255 (or numeric targets): standardized like a table, the image shape kept
        flat = Table(
            rows.astype(np.float64),
            table.y,
            [f"x{k}" for k in range(rows.shape[1])],
            table.target,
            None if test_rows is None else test_rows.astype(np.float64),
            table.y_test,
        )
        split = _table_split(config, flat, source)
        return split.replace(image_shape=image_shape, features=None)
    rows = rows.astype(np.uint8, copy=False)
    test_rows = None if test_rows is None else test_rows.astype(np.uint8, copy=False)
    y = table.y if table.y_test is None else np.concatenate([np.asarray(table.y), np.asarray(table.y_test)])
    labels, names = _class_labels(y, table, source)
    images = ImageSet(
        rows,
        labels[: len(rows)],
        names,
        image_shape or (1, 1, rows.shape[1]),
        test_rows,
        None if test_rows is None else labels[len(rows) :],
    )
    split = _image_split(config, images, source)
    if image_shape is None:  # uint8 rows that are not a square image: pixels, but no image shape
        text = f"raw values in [0, 255], shape (n, {rows.shape[1]})"
        return split.replace(image_shape=None, preprocessing=PixelScaling(text).to_dict())
    return split


def _image_shape_of(example_shape) -> tuple[int, ...] | None:
    """[channels, height, width] of examples of shape (h, w), (c, h, w) or (h * w,) for a square."""
    if len(example_shape) in (2, 3):
        return tuple(int(size) for size in (1, *example_shape)[-3:])
    side = math.isqrt(int(example_shape[0]))
    return (1, side, side) if side > 1 and side * side == example_shape[0] else None


def _are_pixels(X: np.ndarray) -> bool:
    """Whether X holds whole numbers from 0 to 255 (raw pixels)."""
    if X.dtype == np.uint8:
        return True
    if not X.size or X.min() < 0 or X.max() > 255:
        return False
    return X.dtype.kind in "iu" or bool(np.all(np.equal(np.mod(X, 1), 0)))


# --- the split ---------------------------------------------------------------------------------


def _finish(
    config: TrainingConfig,
    scaling: Preprocessing,
    X_parts,
    y_parts,
    class_names,
    targets,
    features,
    image_shape,
    source: str,
    preprocessing: dict | None = None,
) -> DataSplit:
    """The three parts through ``scaling`` (in config.dtype), and what the model file records."""
    dtype = np.dtype(config.dtype)
    X_train, X_valid, X_test = (scaling.apply(np.asarray(part), dtype) for part in X_parts)
    y_train, y_valid, y_test = (np.asarray(part) for part in y_parts)
    return DataSplit(
        X_train,
        y_train,
        X_valid,
        y_valid,
        X_test,
        y_test,
        image_shape=None if image_shape is None else tuple(int(s) for s in image_shape),
        class_names=tuple(class_names),
        preprocessing=preprocessing if preprocessing is not None else scaling.to_dict(),
        targets=targets,
        features=list(features) if features is not None else None,
        source=source,
    )
