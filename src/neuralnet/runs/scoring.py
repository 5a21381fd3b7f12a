"""A finished run on other data: its predictions for a file, and its test metrics on one.

    predict_file("runs/RUN", "new.csv")       -> (CSV text: row, prediction, p(class)..., rows)
    predict_file("runs/RUN", "photos/")       -> (CSV text: file, prediction, probability, images)
    evaluate_on("runs/RUN", "other.csv")      -> test metrics, as ``evaluate_run`` gives them

Both read the file raw, as the data came (a CSV's numbers, pixels 0 to 255), and let the model
apply its own preprocessing (``neuralnet.load``): a CSV's columns are taken by the names the
model was trained on, images are resized to the model's image size, and classes are matched by
name, never by position.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..datasets.imagefolder import IMAGE_SUFFIXES, image_rows, is_idx_folder, read_idx_folder, read_image_folder
from ..datasets.split import DataSplit
from ..datasets.tables import DataError, _read_rows, read_csv, read_feature_columns, read_npz
from ..serving.files import atomic_write_bytes
from ..serving.predictor import Predictor, load
from .data import TABLE_SUFFIXES, class_name
from .experiment import test_metrics
from .folders import RunFolder

__all__ = ["predict_file", "evaluate_on"]


def _predictor(run_folder) -> Predictor:
    """The model of a run folder (checked to be one) or of a model file."""
    if Path(run_folder).is_dir():
        RunFolder(run_folder).require()
    return load(run_folder)


# --- predictions -------------------------------------------------------------------------------


def predict_file(run_folder, path, out=None) -> tuple[str, int]:
    """The predictions of the model of ``run_folder`` for ``path``, as CSV text, and their count.

    Parameters
    ----------
    run_folder : str or Path
        A run folder, or a model file.
    path : str or Path
        A CSV file (the model's feature columns, by name; other columns are left out), a .npz
        file (its array X), or a folder of PNG/JPEG images (sub-folders included).
    out : str or Path or None
        Also write the text to that file, which must not exist yet.

    Returns
    -------
    text : str
        The CSV text. For a CSV or .npz file, one row per example: ``row`` (0, 1, ...),
        ``prediction`` and each class's probability ``p(name)``, or for a regression each
        predicted target in its own units. For a folder, one line per image: ``file``
        (relative to the folder), ``prediction`` and its ``probability``.
    count : int
        The number of predictions.

    Raises
    ------
    FileExistsError
        If ``out`` exists (nothing is ever written over).
    DataError
        For a file or folder the model cannot read, naming what is wrong.
    """
    out = _check_out(out)
    predictor = _predictor(run_folder)
    path = Path(path)
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    if path.is_dir():
        files, rows = _folder_images(predictor, path)
        probabilities = _apply(predictor.predict_proba, rows, path)
        classes = [str(c) for c in predictor.classes]
        best = np.argmax(probabilities, axis=1)
        writer.writerow(["file", "prediction", "probability"])
        for file, k, p in zip(files, best, probabilities):
            writer.writerow([file, classes[k], _number(p[k])])
        count = len(files)
    else:
        X = _feature_rows(predictor, path)
        if predictor.is_regression:
            predicted = np.asarray(_apply(predictor.predict, X, path), dtype=np.float64).reshape(len(X), -1)
            writer.writerow(["row", *map(str, predictor.classes)])
            writer.writerows([k, *map(repr, map(float, values))] for k, values in enumerate(predicted))
        else:
            probabilities = _apply(predictor.predict_proba, X, path)
            classes = [str(c) for c in predictor.classes]
            writer.writerow(["row", "prediction", *(f"p({c})" for c in classes)])
            for k, p in enumerate(probabilities):
                writer.writerow([k, classes[int(np.argmax(p))], *map(_number, p)])
        count = len(X)
    text = lines.getvalue()
    if out is not None:
        atomic_write_bytes(out, text.encode("utf-8"), overwrite=False)
    return text, count


def _number(value) -> str:
    return f"{float(value):.6g}"


def _check_out(out) -> Path | None:
    """Refuse, before any work, an output file that exists (it is never replaced) or is a folder."""
    if out is None:
        return None
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; expected the name of a new CSV file")
    if out.exists():
        raise FileExistsError(
            f"{out} already exists; refusing to overwrite it (choose another --out, or remove the file first)"
        )
    return out


def _apply(function, X, path: Path):
    """``function`` (a Predictor's) of X, its complaints about the values naming the file."""
    try:
        return function(X)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: {error}") from None


def _feature_rows(predictor: Predictor, path: Path) -> np.ndarray:
    """The raw rows of a CSV file (the model's columns, by name) or the array X of a .npz file."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataError(f"{path} does not exist; expected a CSV or .npz file, or a folder of images")
    if suffix == ".npz":
        return _npz_X(path)
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path} is neither a CSV file (.csv) nor a NumPy file of arrays (.npz); expected one of "
            "those, or a folder of images"
        )
    return read_feature_columns(path, _columns(predictor, path))


def _columns(predictor: Predictor, path: Path) -> list[str]:
    """The CSV columns the model takes: the feature names it was trained on, or for a model that
    names none, every column of the file (but a last, target, column when there is one more)."""
    features = predictor.preprocessing.get("features")
    if features:
        return list(features)
    header, _ = _read_rows(path)
    n = predictor.network.n_features
    if len(header) in (n, n + 1):
        return header[:n]
    raise DataError(
        f"{path} has {len(header)} columns, but the model takes {n} features and records no column "
        f"names; expected {n} columns (and optionally a target column last)"
    )


def _npz_X(path: Path) -> np.ndarray:
    """The array X of a .npz file (nothing unpickled), y not needed."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DataError(f"{path} is not a readable .npz file of arrays: {error}") from None
    with archive:
        if "X" not in archive.files:
            raise DataError(f"{path} has no array X; it holds {sorted(archive.files)} (expected X, the examples)")
        try:
            X = archive["X"]
        except ValueError as error:  # an object array would need pickle
            raise DataError(f"{path}: {error}") from None
    if X.ndim < 2 or X.shape[0] == 0:
        raise DataError(f"{path}: X has shape {X.shape}; expected [examples, features] (or images)")
    return X


# --- images --------------------------------------------------------------------------------------


def _model_image_shape(predictor: Predictor, path: Path) -> tuple[int, ...]:
    """[channels, height, width] of the images the model takes; a DataError for a table's model."""
    network = predictor.network
    preprocessing = predictor.preprocessing
    if preprocessing.get("name") != "chapter":
        raise DataError(
            f"{path} is a folder of images, but the model takes table rows ({network.n_features} "
            f"features: {', '.join(map(str, (preprocessing.get('features') or [])[:4]))}...); give a CSV "
            "or .npz file"
        )
    if len(network.input_shape) == 3:
        return tuple(network.input_shape)
    recorded = preprocessing.get("image_shape")
    if (
        isinstance(recorded, list)
        and len(recorded) == 3
        and all(isinstance(s, int) and s > 0 for s in recorded)
        and math.prod(recorded) == network.n_features
    ):
        return tuple(recorded)
    n = network.n_features
    for channels in (1, 3):  # square images; n cannot be both c^2 and 3 c^2
        side = math.isqrt(n // channels)
        if n % channels == 0 and channels * side * side == n:
            return (channels, side, side)
    raise DataError(
        f"the model takes {n} pixels, which are not those of a square grayscale or colour image, and "
        f"records no image size; {path} cannot be resized to its input"
    )


def _folder_images(predictor: Predictor, folder: Path) -> tuple[list[str], np.ndarray]:
    """The PNG/JPEG files under ``folder`` (their paths relative to it, sorted) and their pixels
    as uint8 rows of the model's image shape."""
    shape = _model_image_shape(predictor, folder)
    paths = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not paths:
        hint = (
            " (it holds an IDX set: `neuralnet evaluate RUN --data FOLDER` measures the model on it)"
            if is_idx_folder(folder)
            else ""
        )
        raise DataError(f"{folder} holds no PNG or JPEG images{hint}")
    return [p.relative_to(folder).as_posix() for p in paths], image_rows(paths, shape)


# --- test metrics on other data ----------------------------------------------------------------


def evaluate_on(run_folder, data_path) -> dict:
    """The test metrics of the model of ``run_folder`` on the file or folder ``data_path``.

    The metrics are those ``evaluate_run`` gives on the run's own test part, measured on every
    example of the file, or on its own test part where it has one (X_test, an IDX set's t10k
    files). Classes are matched by name.

    Parameters
    ----------
    run_folder : str or Path
        A run folder, or a model file.
    data_path : str or Path
        Data of the kind the model was trained on: a CSV with the same columns, a .npz, an
        image folder or IDX folder with the same classes.

    Returns
    -------
    dict
        The test metrics (``test_metrics``); for a classifier also ``classes``; and ``data``,
        the path measured on.

    Raises
    ------
    DataError
        Naming labels the model does not know, or data it cannot take.
    """
    predictor = _predictor(run_folder)
    path = Path(data_path)
    training = predictor.header.get("training") or {}
    X_raw, y_raw = _labelled_examples(predictor, training, path)
    X = _apply(predictor.preprocess, X_raw, path)
    network = predictor.network
    if predictor.is_regression:
        y = np.asarray(y_raw)
        if y.dtype.kind not in "iuf":
            raise DataError(
                f"{path}: the model predicts numbers, but the targets are text (e.g. {str(y.reshape(-1)[0])!r})"
            )
        y = y.astype(np.float64).reshape(len(y), -1)
        if y.shape[1] != network.n_outputs:
            raise DataError(f"{path} has {y.shape[1]} targets per example, but the model predicts {network.n_outputs}")
        targets = predictor.header.get("targets") or {"mean": [0.0] * y.shape[1], "std": [1.0] * y.shape[1]}
        y = (y - np.asarray(targets["mean"])) / np.asarray(targets["std"])  # scaled as in training
    else:
        y, targets = _class_indices(predictor, y_raw, path), None
    empty = X[:0]
    data = DataSplit(
        empty, y[:0], empty, y[:0], X, y, class_names=tuple(predictor.classes), targets=targets, source=str(path)
    )
    metrics = test_metrics(network, data, predictor.is_regression, progress=True)
    if not predictor.is_regression:
        metrics["classes"] = [str(c) for c in predictor.classes]
    metrics["data"] = str(path)
    return metrics


def _class_indices(predictor: Predictor, labels, path: Path) -> np.ndarray:
    """The model's class index of each label, matched by name."""
    classes = [str(c) for c in predictor.classes]
    index = {name: k for k, name in enumerate(classes)}
    names = [class_name(label) for label in np.asarray(labels).reshape(-1)]
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise DataError(
            f"{path} has the classes {unknown[:10]}{'...' if len(unknown) > 10 else ''}, which the model "
            f"does not know (its classes are {classes})"
        )
    return np.array([index[name] for name in names], dtype=np.int64)


def _labelled_examples(predictor: Predictor, training: dict, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw examples and their labels (or targets) from the file or folder ``path``."""
    if path.is_dir():
        wanted = _model_image_shape(predictor, path)  # a table's model is refused, naming what it takes
        if is_idx_folder(path):
            images = read_idx_folder(path)
            X, y = images.X_test, images.y_test
        else:
            images = read_image_folder(path)
            X, y = images.X, images.y
        if tuple(images.image_shape) != tuple(wanted):  # resized to the model's input, as predict does
            if images.files is None:
                raise DataError(
                    f"{path} holds images of shape {images.image_shape}, but the model takes {tuple(wanted)}"
                )
            X = image_rows(images.files, wanted)
        return X, np.asarray(images.class_names)[y]
    if not path.exists():
        raise DataError(f"{path} does not exist; expected a CSV or .npz file, or a folder of images")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        table = read_npz(path)
        if table.X_test is not None and table.y_test is not None:
            return table.X_test, table.y_test
        return table.X, table.y
    if suffix not in TABLE_SUFFIXES:
        raise DataError(
            f"{path} is neither a CSV file (.csv) nor a NumPy file of arrays (.npz); expected one of "
            "those, or a folder of images"
        )
    target = training.get("target")
    table = read_csv(path, target)
    features = predictor.preprocessing.get("features")
    X = read_feature_columns(path, list(features)) if features else table.X
    return X, table.y
