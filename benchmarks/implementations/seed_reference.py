"""The chapter's algorithm as written (``seed_reference.py``), run as its own script.

It only does the chapter's workload, in float64, loading and splitting MNIST itself (the
same split); it prints one line per epoch, then ``test_acc=..`` and ``train_seconds=..``
(its training loop, per-epoch evaluation of the training and validation sets included).
The harness runs it unchanged and reads those lines.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .workloads import N_FEATURES, Workload

N_TRAIN, N_VALID, N_ALL = 55_000, 5_000, 70_000


def describe(workload: Workload) -> str:
    return "the chapter's code as printed: float64, its own data loading (same split)"


def mnist_folder(data_dir: Path) -> Path:
    return data_dir / "mnist" if (data_dir / "mnist").is_dir() else data_dir


def command(script: Path, data_dir: Path, workload: Workload) -> list[str]:
    # run under peak_memory, which reports the script's own peak RSS when it ends
    return [
        sys.executable,
        "-m",
        "implementations.peak_memory",
        str(script),
        str(mnist_folder(data_dir)),
        str(workload.epochs),
    ]


def parse_output(lines: list[str], workload: Workload) -> dict:
    text = "\n".join(lines)
    seconds = float(re.search(r"train_seconds=([\d.]+)", text).group(1))
    return {
        "seconds": seconds,
        "epoch_seconds": [],
        "epochs": workload.epochs,
        "test_acc": float(re.search(r"test_acc=([\d.]+)", text).group(1)) / 100,
        "examples_trained_per_epoch": N_TRAIN,
        "examples_evaluated_per_epoch": N_TRAIN + N_VALID,
        "data_bytes": N_ALL * N_FEATURES * 8,  # the float64 images it scales (and copies when splitting)
    }
