"""Inference speed: ``predict_proba`` on the whole test set, and on one image at a time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np


def _seconds(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def measure_inference(
    predict_proba: Callable[[np.ndarray], np.ndarray], X: np.ndarray, calls: int, batch_repeats: int
) -> dict:
    """Median seconds of predict_proba(X) over ``batch_repeats`` calls, and the median and
    90th percentile of predict_proba on one image over ``calls`` calls (a different image
    each time), each after a few warm-up calls."""
    predict_proba(X)
    batch = [_seconds(lambda: predict_proba(X)) for _ in range(batch_repeats)]
    images = [X[i % len(X) : i % len(X) + 1] for i in range(calls)]
    for image in images[:20]:
        predict_proba(image)
    single = sorted(_seconds(lambda image=image: predict_proba(image)) for image in images)
    return {
        "n_images": len(X),
        "batch_seconds": statistics.median(batch),
        "batch_seconds_all": batch,
        "latency_seconds": statistics.median(single),
        "latency_p90_seconds": single[int(0.9 * (len(single) - 1))],
        "calls": calls,
    }
