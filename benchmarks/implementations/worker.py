"""One measurement in a fresh process: ``python -m implementations.worker TASK.json RESULT.json``.

The harness writes a task (what to measure, with which implementation, workload, data
folder and thread count) and reads the result back. A fresh process per measurement
keeps peak memory per run and stops one library's imports and thread pools from
affecting another's timings.

Printed on stdout, for the harness to sample this process's memory at those moments:
``ready`` once the data are loaded (before the timed loop), one ``Epoch: ...`` line
per epoch, and this process's peak memory at the end (``peak_memory.print_peak``).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

from .inference import measure_inference
from .peak_memory import print_peak
from .shared_data import read_arrays, read_initial_weights
from .workloads import Workload

READY_LINE = "ready"


def load_implementation(name: str):
    return importlib.import_module(f"{__package__}.{name}")


def limit_threads(threads: int) -> None:
    """At most ``threads`` threads for NumPy's BLAS and (when imported) PyTorch. (XLA, for JAX, takes
    no such setting: its CPU pool has a thread per CPU this process may run on, which the harness's
    pinning, ``child.cpu_subset``, limits.)"""
    threadpool_limits(limits=threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def print_epoch(epoch: int, epochs: int, metrics: dict) -> None:
    values = " | ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    print(f"Epoch: {epoch:03d}/{epochs:03d} | {values}", flush=True)


def run_training(task: dict) -> dict:
    implementation = load_implementation(task["implementation"])
    limit_threads(task["threads"])
    workload = Workload.from_dict(task["workload"])
    folder = Path(task["data_folder"])
    arrays = read_arrays(folder)
    weights = read_initial_weights(workload.name, folder)
    print(READY_LINE, flush=True)
    result = implementation.train(workload, arrays, weights, print_epoch)
    result.update(data_bytes=arrays.nbytes, description=implementation.describe(workload))
    return result


def run_inference(task: dict) -> dict:
    implementation = load_implementation(task["implementation"])
    limit_threads(task["threads"])
    workload = Workload.from_dict(task["workload"])
    folder = Path(task["data_folder"])
    prepare_inputs = getattr(implementation, "prepare_inputs", lambda X: X)  # before the timing
    X_test = prepare_inputs(read_arrays(folder).X_test)
    predict_proba = implementation.make_predictor(
        workload, read_initial_weights(workload.name, folder), task["threads"]
    )
    return measure_inference(predict_proba, X_test, task["calls"], task["batch_repeats"])


def run_peak(task: dict) -> dict:
    from . import machine

    try:
        import torch  # noqa: F401  (imported first, so that limit_threads reaches it)
    except ImportError:
        pass
    limit_threads(task["threads"])
    return machine.measure_peak(task["size"], task["repeats"])


KINDS = {"train": run_training, "inference": run_inference, "peak": run_peak}


def main(argv: list[str]) -> int:
    task_path, result_path = argv
    task = json.loads(Path(task_path).read_text())
    result = KINDS[task["kind"]](task)
    Path(result_path).write_text(json.dumps(result))
    print_peak()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
