"""ONNX Runtime, on the graph ``neuralnet.serving.onnx_export.to_onnx`` builds (inference only, optional).

The exported graph takes raw pixels (0 to 255) and applies the chapter's scaling itself,
so the test images are turned back into pixels once, before the timing
(``prepare_inputs``); the graph's scaling (three element-wise operations) is timed with it.
When ``neuralnet.serving.onnx_export`` or ``onnxruntime`` cannot be imported, the harness leaves ONNX
Runtime out and says why (``unavailable_reason``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

from .workloads import Workload


def unavailable_reason() -> str | None:
    """None when a model can be exported and run; otherwise why not."""
    try:
        importlib.import_module("neuralnet.serving.onnx_export").to_onnx  # noqa: B018
        importlib.import_module("onnxruntime")
    except (ImportError, AttributeError) as error:
        return f"skipped: {error}"
    return None


def prepare_inputs(X: np.ndarray) -> np.ndarray:
    """Scaled images [-1, 1] back to the pixels 0..255 the exported graph takes."""
    return np.rint((X + 1.0) * 127.5).astype(np.float32)


def make_predictor(workload: Workload, weights, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime

    from neuralnet.serving.onnx_export import INPUT_NAME, to_onnx

    from .neuralnet_engine import build_network

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    model = to_onnx(build_network(workload)).SerializeToString()
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def predict_proba(pixels: np.ndarray) -> np.ndarray:
        return session.run(None, {INPUT_NAME: pixels})[0]

    return predict_proba
