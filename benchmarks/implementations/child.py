"""Run one command in a fresh process and measure its memory.

While the child runs, its stdout is read line by line; its resident memory (RSS) is
sampled when it prints ``ready`` (data loaded, training not started) and after each
``Epoch...`` line, which shows whether memory grows from epoch to epoch. Its peak RSS is
the line the child prints last (``peak_memory.print_peak``: the kernel's ``VmHWM`` of the
child's own program; ``ru_maxrss`` would include the memory it inherited from this process).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .peak_memory import parse_peak
from .worker import READY_LINE

EPOCH_LINE = re.compile(r"^Epoch\b")  # the worker's lines, and the seed reference's

#: what makes OpenMP, OpenBLAS and MKL start ``threads`` threads in a new process
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
BENCHMARKS = Path(__file__).resolve().parent.parent  # holds the implementations package


class ChildFailed(RuntimeError):
    pass


@dataclass
class ChildRun:
    lines: list[str]
    peak_rss: int | None = None  # bytes, as the child reported it (None: it did not)
    rss_ready: int | None = None  # bytes, when the child printed "ready"
    rss_epochs: list[int] = field(default_factory=list)  # bytes, after each epoch line


def child_environment(threads: int) -> dict:
    """This process's environment, with the thread variables set, this package importable, and
    Python's output unbuffered (so that each epoch's line, and the memory sampled at it, comes
    when the epoch ends, also from scripts that do not flush, such as the seed reference)."""
    path = os.pathsep.join(filter(None, [str(BENCHMARKS), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1", **{name: str(threads) for name in THREAD_VARIABLES})


def cpu_subset(threads: int) -> set[int] | None:
    """The CPUs to pin a run to when it may use fewer threads than this process has CPUs
    (so that threads of every kind, BLAS or Python, share ``threads`` cores); else None."""
    available = sorted(os.sched_getaffinity(0))
    return set(available[:threads]) if threads < len(available) else None


def _rss(process: psutil.Process) -> int | None:
    try:
        return process.memory_info().rss
    except psutil.Error:
        return None


def run_child(
    command: list[str], env: dict | None = None, echo: Callable[[str], None] | None = None, cpus: set[int] | None = None
) -> ChildRun:
    """Run ``command`` (on ``cpus`` only, if given: threads of every kind, BLAS or Python,
    then share those cores); return its output lines and memory. Raises ChildFailed on a
    non-zero exit."""
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, preexec_fn=pin)
        watched = psutil.Process(process.pid)
        run = ChildRun(lines=[])
        for line in process.stdout:
            line = line.rstrip("\n")
            peak = parse_peak(line)
            if peak is not None:
                run.peak_rss = peak
                continue
            run.lines.append(line)
            if line == READY_LINE:
                run.rss_ready = _rss(watched)
            elif EPOCH_LINE.match(line):
                run.rss_epochs.append(_rss(watched))
            if echo is not None:
                echo(line)
        process.stdout.close()
        process.wait()
        if process.returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace")[-3000:]
            raise ChildFailed(f"{' '.join(command)} exited with {process.returncode}:\n{tail}")
    return run
