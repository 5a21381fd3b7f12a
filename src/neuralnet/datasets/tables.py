"""A user's own tables: CSV files with a header row, and NumPy ``.npz`` files of arrays.

``read_csv(path, target)`` gives the numeric feature columns as a float64 matrix and the target
column as it is written (text, for class names, or numbers); ``read_npz(path)`` the arrays ``X``
and ``y`` (and ``X_test``, ``y_test`` when the file holds its own test split). Every problem is a
``DataError`` naming the file, the row (counted as in the file: the header is row 1) and the
column, and what was expected.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataError", "Table", "read_csv", "read_npz", "read_feature_columns", "MISSING"]

#: cells that mean "no value"
MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}


class DataError(ValueError):
    """A data file that cannot be used as it is: the message names the file and what is wrong."""


@dataclass
class Table:
    """Features [n, f] (float64), the target column as written, and the names of the columns."""

    X: np.ndarray
    y: np.ndarray
    features: list[str]
    target: str
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header (stripped) and the non-blank data rows of a CSV file, its dialect sniffed."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; expected a CSV file") from None
    with handle:
        try:
            sample = handle.read(65536)
            handle.seek(0)
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample else csv.excel
        except csv.Error:
            dialect = csv.excel
        except UnicodeDecodeError:
            raise DataError(f"{path} is not a text file (UTF-8): expected a CSV file with a header row") from None
        rows = list(csv.reader(handle, dialect))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"{path} is empty: expected a header row and rows of data")
    header = [cell.strip() for cell in rows[0]]
    if len(set(header)) != len(header):
        repeated = sorted({name for name in header if header.count(name) > 1})
        raise DataError(f"{path}: the header names the columns {repeated} more than once")
    if len(rows) == 1:
        raise DataError(f"{path} has a header but no rows of data")
    return header, rows[1:]


def _cell(path: Path, number: int, column: str, cell: str) -> str:
    text = cell.strip()
    if text.lower() in MISSING:
        raise DataError(
            f"{path}, row {number}, column {column!r}: the value is missing ({cell!r}); expected a "
            "value in every cell (drop or fill the row)"
        )
    return text


def _numbers(path: Path, header: list[str], data: list[list[str]], columns: list[str]) -> np.ndarray:
    """The cells of ``columns`` as a float64 matrix [rows, len(columns)], every cell checked."""
    indices = [header.index(name) for name in columns]
    X = np.empty((len(data), len(columns)))
    for number, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise DataError(f"{path}, row {number}: {len(row)} cells, but the header has {len(header)} columns")
        for column, index in enumerate(indices):
            value = _number(_cell(path, number, header[index], row[index]))
            if value is None:
                raise DataError(
                    f"{path}, row {number}, column {header[index]!r}: {row[index]!r} is not a number; "
                    "expected numeric feature columns"
                )
            X[number - 2, column] = value
    return X


def read_csv(path: str | Path, target: str | None = None) -> Table:
    """Read a CSV file with a header row; ``target`` names the target column (default: the last).

    The other columns must hold numbers (the features); the target column may hold text (class
    names) or numbers. Refused, naming the row and column: rows with another number of cells
    than the header, missing values, feature values that are not numbers, a target column that
    does not exist, and a file with no data rows.
    """
    path = Path(path)
    header, data = _read_rows(path)
    if len(header) < 2:
        raise DataError(
            f"{path}: the header {header} has {len(header)} column; expected feature columns and a target column"
        )
    target = header[-1] if target is None else target
    if target not in header:
        raise DataError(f"{path}: there is no target column {target!r}; the columns are {header} (--target COLUMN)")
    features = [name for name in header if name != target]
    X = _numbers(path, header, data, features)
    target_index = header.index(target)
    y = [_cell(path, number, target, row[target_index]) for number, row in enumerate(data, start=2)]
    values = [_number(label) for label in y]
    labels = np.asarray(values, dtype=np.float64) if all(v is not None for v in values) else np.asarray(y)
    return Table(X, labels, features, target)


def read_feature_columns(path: str | Path, features: list[str]) -> np.ndarray:
    """The columns ``features`` of a CSV file, by name and in that order, as float64 [rows, features]:
    the rows to predict (other columns, such as the target, are left out). A DataError names a
    missing column or a bad cell."""
    path = Path(path)
    header, data = _read_rows(path)
    missing = [name for name in features if name not in header]
    if missing:
        raise DataError(
            f"{path} has no column {missing[0]!r}; the model takes the columns {features} and the file has {header}"
        )
    return _numbers(path, header, data, features)


def read_npz(path: str | Path) -> Table:
    """Read ``X`` and ``y`` (and optionally ``X_test``, ``y_test``) from a NumPy ``.npz`` file.

    Nothing is unpickled (object arrays are refused). X is [n, features] (or images [n, h, w],
    [n, c, h, w]), y [n] or [n, targets], of the same length.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (ValueError, OSError) as error:
        raise DataError(f"{path} is not a readable .npz file of arrays: {error}") from None
    with archive:
        names = set(archive.files)
        missing = sorted({"X", "y"} - names)
        if missing:
            raise DataError(
                f"{path} has no array {' or '.join(missing)}; it holds {sorted(names)} (expected X and y, "
                "and optionally X_test and y_test)"
            )
        if ("X_test" in names) != ("y_test" in names):
            raise DataError(f"{path}: give both X_test and y_test, or neither")
        try:
            arrays = {name: archive[name] for name in ("X", "y", "X_test", "y_test") if name in names}
        except ValueError as error:  # object arrays would need pickle
            raise DataError(f"{path}: {error}") from None
    for x_name, y_name in (("X", "y"), ("X_test", "y_test")):
        if x_name not in arrays:
            continue
        X, y = arrays[x_name], arrays[y_name]
        if X.dtype.kind not in "iuf":
            raise DataError(f"{path}: {x_name} holds {X.dtype} values; expected numbers")
        if X.ndim < 2 or X.shape[0] == 0:
            raise DataError(f"{path}: {x_name} has shape {X.shape}; expected [examples, features] (or images)")
        if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
            raise DataError(f"{path}: {y_name} has shape {y.shape}, but {x_name} has {X.shape[0]} examples")
        if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
            row = int(np.argwhere(~np.isfinite(X.reshape(X.shape[0], -1)))[0][0])
            raise DataError(f"{path}: {x_name} has a NaN or infinite value in row {row}; expected finite numbers")
    features = [f"x{k}" for k in range(int(np.prod(arrays["X"].shape[1:])))]
    return Table(arrays["X"], arrays["y"], features, "y", arrays.get("X_test"), arrays.get("y_test"))
