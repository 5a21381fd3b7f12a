"""The machine a benchmark ran on, and its float32 matrix-multiply peak.

The peak is what a large square product (``size`` x ``size`` float32, all allowed
threads) achieves: the best of a few repetitions, for NumPy's BLAS and for PyTorch's.
Achieved GFLOP/s of a training run are reported as a fraction of the larger of the two.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from importlib import metadata

import numpy as np


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def numpy_blas() -> list[dict]:
    """NumPy's BLAS libraries as threadpoolctl sees them (name, version, architecture, threads)."""
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [{key: info.get(key) for key in keys} for info in threadpool_info() if info.get("user_api") == "blas"]


def describe_machine() -> dict:
    """CPU, cores, memory, Python and library versions, NumPy's BLAS."""
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": _version("torch"),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "scikit-learn": _version("scikit-learn"),
        "onnxruntime": _version("onnxruntime"),
        "neuralnet": _version("neuralnet"),
        "numpy_blas": numpy_blas(),
    }


def _best_gflops(multiply, size: int, repeats: int) -> float:
    multiply()  # warm up: threads started, pages touched
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        multiply()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def numpy_sgemm_gflops(size: int = 4096, repeats: int = 3) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    return _best_gflops(lambda: np.matmul(a, b, out=out), size, repeats)


def torch_sgemm_gflops(size: int = 4096, repeats: int = 3) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    a = torch.randn(size, size, dtype=torch.float32)
    b = torch.randn(size, size, dtype=torch.float32)
    out = torch.empty_like(a)
    return _best_gflops(lambda: torch.mm(a, b, out=out), size, repeats)


def torch_backend() -> dict | None:
    try:
        import torch
    except ImportError:
        return None
    return {
        "threads": torch.get_num_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }


def measure_peak(size: int = 4096, repeats: int = 3) -> dict:
    """float32 GFLOP/s of a size x size product with NumPy and with PyTorch; ``peak`` is the larger."""
    numpy_rate = numpy_sgemm_gflops(size, repeats)
    torch_rate = torch_sgemm_gflops(size, repeats)
    return {
        "size": size,
        "repeats": repeats,
        "numpy_gflops": numpy_rate,
        "torch_gflops": torch_rate,
        "peak_gflops": max(rate for rate in (numpy_rate, torch_rate) if rate is not None),
        "torch_backend": torch_backend(),
    }
