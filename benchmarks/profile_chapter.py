"""Where the chapter's training time goes: a profile of a few epochs of neuralnet.

    python benchmarks/profile_chapter.py --data-dir ../shared/data [--epochs 5]

The chapter's workload (784-50-10 sigmoid, MSE, SGD 0.1, batch 100, training and
validation sets evaluated every epoch), built as ``neuralnet train`` builds it. It is
timed twice without a profiler (evaluation on its second thread, as ``neuralnet train``
runs it, and in the training thread), then profiled with the evaluation in the training
thread, so that the profiler sees all the work: with pyinstrument (a sampled call tree
and the self time of each function) or, when pyinstrument is missing, cProfile. NumPy's
kernels count towards the Python function that calls them (``Dense.forward`` holds its
matrix product). Then each part of an epoch is timed apart on one core (neuralnet's
mini-batch loop, the plain NumPy loop's step from implementations/numpy_loop.py, the
first layer's matrix products, the row gathering, the evaluation): what a mini-batch of
this shape costs in NumPy on this machine, whichever library wraps it. Writes
benchmarks/results/profile.txt.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path

from implementations.flops import loop_flops
from implementations.machine import cpu_model, numpy_sgemm_gflops
from implementations.neuralnet_engine import build_network, initial_weights, training_config
from implementations.workloads import CHAPTER, N_CLASSES, Workload
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent


def timed_fit(workload: Workload, data, asynchronous_evaluation: bool | None, threads: int | None = None) -> float:
    """Seconds of Trainer.fit on a fresh network (None: the library's choice, as `neuralnet train`)."""
    from neuralnet.runs.builder import build_trainer

    trainer = build_trainer(training_config(workload), build_network(workload))
    started = time.perf_counter()
    trainer.fit(
        data.X_train,
        data.y_train,
        epochs=workload.epochs,
        batch_size=workload.batch_size,
        X_valid=data.X_valid,
        y_valid=data.y_valid,
        progress=False,
        threads=threads,
        asynchronous_evaluation=asynchronous_evaluation,
    )
    return time.perf_counter() - started


def profile_with_pyinstrument(run) -> str:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    run()
    profiler.stop()
    return (
        "Self time per function (pyinstrument, flat):\n\n"
        + profiler.output_text(flat=True, show_all=False)
        + "\n\nCall tree (pyinstrument, wall-clock samples):\n\n"
        + profiler.output_text(show_all=False)
    )


def profile_with_cprofile(run) -> str:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(run)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
    return "Top 30 functions by self time (cProfile):\n" + text.getvalue()


def profile(run) -> str:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return profile_with_cprofile(run)
    return profile_with_pyinstrument(run)


def summary(
    workload: Workload,
    data,
    seconds_default: float,
    seconds_synchronous: float,
    seconds_threaded: float | None,
    peak: float,
    threads: int,
) -> str:
    n_train = len(data.y_train) - len(data.y_train) % workload.batch_size
    n_evaluated = len(data.y_train) + len(data.y_valid)
    gflop = loop_flops(workload.products, n_train * workload.epochs, n_evaluated * workload.epochs) / 1e9
    return "\n".join(
        [
            f"Profile of neuralnet on {workload.title}, {workload.epochs} epochs,",
            "training and validation sets evaluated after every epoch.",
            f"Command: python {' '.join(sys.argv)}",
            f"Date: {time.strftime('%Y-%m-%d %H:%M')}; {cpu_model()}, {os.cpu_count()} logical CPUs, "
            f"{threads} threads allowed; Python {platform.python_version()}",
            "",
            f"Wall time of Trainer.fit, evaluation on its second thread (as `neuralnet train`): "
            f"{seconds_default:.2f} s ({seconds_default / workload.epochs:.3f} s per epoch)",
            f"Wall time of Trainer.fit, evaluation in the training thread (as profiled below):  "
            f"{seconds_synchronous:.2f} s ({seconds_synchronous / workload.epochs:.3f} s per epoch)",
            *(
                []
                if seconds_threaded is None
                else [
                    f"Wall time of Trainer.fit, {threads} BLAS threads for the mini-batches too, evaluation in "
                    "between: "
                    f"{seconds_threaded:.2f} s ({seconds_threaded / workload.epochs:.3f} s per epoch)"
                ]
            ),
            f"Matrix products: {gflop:.1f} GFLOP; at this machine's float32 peak ({peak:.0f} GFLOP/s, NumPy, "
            f"4096x4096) they need {gflop / peak:.2f} s: the default run reaches "
            f"{gflop / seconds_default:.1f} GFLOP/s, {gflop / seconds_default / peak:.1%} of peak.",
            "",
        ]
    )


def _per_batch(run_batch, batches) -> float:
    """Seconds per call of run_batch(indices), over one pass through ``batches``."""
    started = time.perf_counter()
    for batch in batches:
        run_batch(batch)
    return (time.perf_counter() - started) / len(batches)


def one_core_budget(workload: Workload, data) -> str:
    """Each part of an epoch timed apart on one core (one BLAS thread): the mini-batch loop
    of neuralnet and of the plain NumPy loop, its matrix products and row gathering alone,
    and the per-epoch evaluation. With the evaluation on the second core, an epoch cannot
    be shorter than its mini-batch loop: that bounds the run's time from below."""
    import numpy as np
    from implementations.numpy_loop import ChapterNetwork

    from neuralnet.runs.builder import build_trainer
    from neuralnet.training import check_data, evaluate

    size = workload.batch_size
    order = np.random.RandomState(0).permutation(len(data.y_train))
    batches = [order[start : start + size] for start in range(0, len(order) - size + 1, size)]
    X = np.ascontiguousarray(data.X_train, dtype=np.float32)
    onehot = np.eye(N_CLASSES, dtype=np.float32)[data.y_train]
    hidden = workload.hidden[0]
    x = X[:size]  # the products alone, on one contiguous batch
    weight_t = np.full((X.shape[1], hidden), 0.01, np.float32)
    delta = np.ones((size, hidden), np.float32)
    gradient = np.empty_like(weight_t)
    plain = ChapterNetwork(initial_weights(workload))
    with threadpool_limits(limits=1), np.errstate(over="ignore"):
        trainer = build_trainer(training_config(workload), build_network(workload))
        # the history's seconds: each epoch's mini-batch loop alone, without fit's checks of the
        # data (about 25 ms per call); the first epoch is a warm-up (imports, buffers)
        history = trainer.fit(
            X, data.y_train, epochs=3, batch_size=size, evaluate_train=False, progress=False, threads=1
        )
        loop = min(history["seconds"][1:]) / len(batches)
        step = _per_batch(lambda b: plain.sgd_step(X[b], onehot[b], workload.lr), batches)
        products = _per_batch(lambda b: (x @ weight_t, np.matmul(x.T, delta, out=gradient)), batches)
        one_core_peak = numpy_sgemm_gflops()
        gather = _per_batch(lambda b: X[b], batches)
        network = trainer.network
        sets = [check_data(network, X, data.y_train, "train"), check_data(network, data.X_valid, data.y_valid, "valid")]
        started = time.perf_counter()
        for _ in range(3):
            for X_set, Y_set, labels in sets:
                evaluate(network, X_set, Y_set, labels)
        evaluation = (time.perf_counter() - started) / 3
    per_epoch = len(batches)
    epochs = CHAPTER.epochs
    return "\n".join(
        [
            f"One core's cost of each part of an epoch ({per_epoch} mini-batches of {size}; one BLAS thread, "
            "each part timed alone):",
            f"  neuralnet's mini-batch loop (Trainer.fit, no evaluation)  {loop * 1e6:6.0f} µs per batch, "
            f"{loop * per_epoch * 1e3:5.0f} ms per epoch",
            f"  the plain NumPy loop's step (numpy_loop.py)               {step * 1e6:6.0f} µs per batch, "
            f"{step * per_epoch * 1e3:5.0f} ms per epoch",
            f"    of which the first layer's two matrix products         {products * 1e6:6.0f} µs per batch "
            f"({4 * size * X.shape[1] * hidden / products / 1e9:.0f} GFLOP/s; one core's float32 peak: "
            f"{one_core_peak:.0f} GFLOP/s)",
            f"    and gathering the batch's {size} rows                     {gather * 1e6:6.0f} µs per batch",
            f"  evaluating the training and validation sets            {evaluation * 1e3:14.0f} ms per epoch",
            f"With the evaluation on the second core, {epochs} epochs take at least {epochs} mini-batch loops: "
            f"{loop * per_epoch * epochs:.1f} s for neuralnet's,",
            f"{step * per_epoch * epochs:.1f} s for the plain step's (and "
            f"{(step * per_epoch + evaluation) * epochs:.1f} s "
            "with its evaluation in the same thread).",
            "",
        ]
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=os.environ.get("NEURALNET_DATA_DIR"),
        help="folder holding mnist/ (default: $NEURALNET_DATA_DIR)",
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs to profile (default 5)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads (default: all, %(default)s)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile.txt")
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("give --data-dir (a folder holding mnist/) or set NEURALNET_DATA_DIR")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from neuralnet.datasets import load_chapter_data

    workload = CHAPTER.with_changes(epochs=args.epochs)
    data = load_chapter_data("mnist", data_dir=args.data_dir)
    with threadpool_limits(limits=args.threads):
        peak = numpy_sgemm_gflops()
        seconds_default = timed_fit(workload, data, asynchronous_evaluation=None)
        seconds_synchronous = timed_fit(workload, data, asynchronous_evaluation=False)
        seconds_threaded = (
            timed_fit(workload, data, asynchronous_evaluation=False, threads=args.threads) if args.threads > 1 else None
        )
        report = profile(lambda: timed_fit(workload, data, asynchronous_evaluation=False))
    budget = one_core_budget(workload, data)
    text = (
        summary(workload, data, seconds_default, seconds_synchronous, seconds_threaded, peak, args.threads)
        + "\n"
        + budget
        + "\n"
        + report
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
