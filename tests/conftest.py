"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neuralnet.datasets import DataNotFoundError, load_mnist, locate_dataset_files

# The repository's sibling folder shared/data holds the real MNIST files.
SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The data folder: $NEURALNET_DATA_DIR if set (failing if it lacks MNIST), else ../shared/data
    (skipping if that lacks MNIST)."""
    env_dir = os.environ.get("NEURALNET_DATA_DIR")
    root = Path(env_dir).resolve() if env_dir else SHARED_DATA_DIR
    try:
        locate_dataset_files("mnist", data_dir=root)
    except DataNotFoundError as exc:
        if env_dir:  # CI sets the variable: a wrong setting must fail, not skip
            pytest.fail(f"NEURALNET_DATA_DIR={env_dir} does not hold the MNIST files: {exc}")
        pytest.skip(f"real MNIST files not found (set NEURALNET_DATA_DIR): {exc}")
    return root


@pytest.fixture(scope="session")
def mnist(data_dir):
    """All 70,000 MNIST examples as (X, y), loaded once per session."""
    return load_mnist(data_dir=data_dir, download=False)
