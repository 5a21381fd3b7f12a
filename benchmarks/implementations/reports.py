"""What the profiling scripts share: the times of repeated calls, a report's first lines, its file."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .machine import cpu_model, numpy_sgemm_gflops


def call_seconds(function: Callable[[], object], repeats: int, warm: int) -> list[float]:
    """The wall times of ``repeats`` calls of ``function()``, after ``warm`` untimed ones."""
    for _ in range(warm):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def report_header(title: str, command: str, machine_note: str = "") -> list[str]:
    """A report's first lines: its title, the machine (with ``machine_note`` after it), the float32
    matrix-multiply peak measured now, the command that writes the report, and a blank line."""
    return [
        title,
        f"{cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, NumPy {np.__version__}"
        + machine_note,
        f"float32 matrix-multiply peak (4096 x 4096): {numpy_sgemm_gflops(4096):.0f} GFLOP/s",
        f"Command: {command}",
        "",
    ]


def write_report(lines: list[str], out: Path) -> None:
    """Write the report's lines to ``out`` (its folder made if needed) and print them."""
    text = "\n".join(lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
