"""The arrays every implementation trains on: written once by the harness, read by each run.

The harness loads the chapter's split once (``neuralnet.datasets.load_chapter_data``:
55,000 / 5,000 / 10,000 MNIST images scaled to [-1, 1], float32) and writes it to a
folder as ``.npy`` files, together with each workload's initial weights as neuralnet
draws them. Every run then loads the very same arrays, whatever library it uses, and
without importing neuralnet.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

PARTS = ("X_train", "y_train", "X_valid", "y_valid", "X_test", "y_test")


class Arrays(NamedTuple):
    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(part.nbytes for part in self)

    def evaluation_set(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(X, y) of "train", "valid" or "test"."""
        return getattr(self, f"X_{name}"), getattr(self, f"y_{name}")

    def count(self, names) -> int:
        """Examples in the named sets together."""
        return sum(len(self.evaluation_set(name)[1]) for name in names)


def write_arrays(split, folder: Path) -> None:
    for name in PARTS:
        np.save(folder / f"{name}.npy", getattr(split, name))


def read_arrays(folder: Path) -> Arrays:
    return Arrays(*(np.load(Path(folder) / f"{name}.npy") for name in PARTS))


def write_initial_weights(workload_name: str, weights: list[tuple[np.ndarray, np.ndarray]], folder: Path) -> None:
    """(W [n_out, n_in], b [n_out]) per Dense layer, in order."""
    arrays = {}
    for index, (weight, bias) in enumerate(weights):
        arrays[f"weight_{index}"] = np.ascontiguousarray(weight)
        arrays[f"bias_{index}"] = np.ascontiguousarray(bias)
    np.savez(folder / f"weights_{workload_name}.npz", **arrays)


def read_initial_weights(workload_name: str, folder: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    with np.load(Path(folder) / f"weights_{workload_name}.npz") as arrays:
        n_layers = len(arrays.files) // 2
        return [(arrays[f"weight_{i}"], arrays[f"bias_{i}"]) for i in range(n_layers)]
