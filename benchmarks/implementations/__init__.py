"""The implementations the harness compares, one module each, and what their runs share.

Implementations (each trains a ``Workload`` on the shared arrays, in a fresh process):

    neuralnet_engine   neuralnet through its public API, as ``neuralnet train`` runs it
    torch_eager        PyTorch eager on the CPU
    jax_jit            JAX on the CPU, jit-compiled (a lax.scan per epoch)
    sklearn_mlp        scikit-learn's MLPClassifier (the closest expressible configuration)
    seed_reference     the chapter's code as printed, run as its own script
    numpy_loop         the chapter's network by hand in plain NumPy: a yardstick
    onnx_runtime       ONNX Runtime on a model from ``neuralnet.serving.onnx_export`` (inference only)

Shared by the runs:

    workloads    the configurations compared          flops        their arithmetic, counted
    shared_data  the arrays and initial weights       worker       one measurement per process
    child        running a process, its memory        inference    predict_proba timings
    machine      CPU, versions, float32 matmul peak
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Implementation:
    key: str  # the name on the command line
    module: str  # the module in this package
    label: str  # the name in the tables
    workloads: tuple[str, ...] | None = None  # the workloads it can run (None: all)
    requires: tuple[str, ...] = ()  # the packages it needs

    def runs(self, workload_name: str) -> bool:
        return self.workloads is None or workload_name in self.workloads

    def missing(self) -> list[str]:
        """The required packages that are not installed."""
        return [name for name in self.requires if importlib.util.find_spec(name) is None]


TRAINING = {
    impl.key: impl
    for impl in (
        Implementation("neuralnet", "neuralnet_engine", "neuralnet"),
        Implementation("torch", "torch_eager", "PyTorch eager", requires=("torch",)),
        Implementation("jax", "jax_jit", "JAX jit", requires=("jax",)),
        Implementation("sklearn", "sklearn_mlp", "scikit-learn MLPClassifier", requires=("sklearn",)),
        Implementation("seed", "seed_reference", "seed reference", workloads=("chapter",)),
        Implementation("numpy", "numpy_loop", "plain NumPy loop", workloads=("chapter",)),
    )
}

INFERENCE = {
    impl.key: impl
    for impl in (
        Implementation("neuralnet", "neuralnet_engine", "neuralnet"),
        Implementation("torch", "torch_eager", "PyTorch eager", requires=("torch",)),
        Implementation("jax", "jax_jit", "JAX jit", requires=("jax",)),
        Implementation(
            "onnx", "onnx_runtime", "ONNX Runtime (neuralnet.serving.onnx_export)", requires=("onnxruntime",)
        ),
    )
}
