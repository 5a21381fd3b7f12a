"""Where a mini-batch of the deep workload goes: each part of one training step timed apart.

    python benchmarks/profile_deep.py --data-dir ../shared/data [--threads 1 2]

The deep workload (784-512-256-10 ReLU, dropout 0.2, softmax cross-entropy, Adam 1e-3, batch
128), built as ``neuralnet train`` builds it. For each BLAS thread count, the median time of
the whole step (``Network.loss_and_gradients`` and ``Optimizer.step``) and of its parts, each run
alone many times on the shapes the step uses: every matrix product of the forward and backward
passes with its GFLOP/s, the dropout masks and their random numbers, ReLU forward and backward,
the fused softmax cross-entropy, Adam's update, gathering the mini-batch's rows; and the
evaluation of the 10,000 test images that each epoch adds. The parts do not add up exactly to
the step (caches are warmer when a part runs alone); the step's own time is the measurement, the
parts say where it goes. Writes benchmarks/results/profile_deep.txt.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import numpy as np
from implementations.neuralnet_engine import build_network, training_config
from implementations.reports import call_seconds, report_header, write_report
from implementations.workloads import DEEP
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent


def median_seconds(function, repeats: int = 200, warm: int = 20) -> float:
    """The median wall time of ``function()`` over ``repeats`` calls, after ``warm`` untimed ones."""
    return statistics.median(call_seconds(function, repeats, warm))


def parts(data, threads: int) -> list[tuple[str, float, float | None]]:
    """(what, seconds per call, GFLOP/s or None) for one mini-batch's parts, on ``threads`` threads."""
    from neuralnet.runs.builder import build_optimizer
    from neuralnet.training.data import one_hot

    network = build_network(DEEP)
    optimizer = build_optimizer(training_config(DEEP), network)
    batch = DEEP.batch_size
    rng = np.random.default_rng(0)
    rows = rng.choice(len(data.y_train), batch, replace=False)
    x = np.ascontiguousarray(data.X_train[rows])
    y = one_hot(data.y_train[rows], 10, dtype=np.float32)
    dense = [layer for layer in network.layers if hasattr(layer, "weight")]
    sizes = [(layer.weight.shape[1], layer.weight.shape[0]) for layer in dense]  # (n_in, n_out)
    acts = [rng.standard_normal((batch, n_in)).astype(np.float32) for n_in, _ in sizes]
    deltas = [rng.standard_normal((batch, n_out)).astype(np.float32) for _, n_out in sizes]
    results: list[tuple[str, float, float | None]] = []

    def step():
        network.loss_and_gradients(x, y)
        optimizer.step()

    with threadpool_limits(threads):
        results.append(("the whole step (forward, backward, Adam)", median_seconds(step, 100, 10), None))
        for (n_in, n_out), layer, a, d in zip(sizes, dense, acts, deltas):
            w = layer.weight
            flop = 2.0 * batch * n_in * n_out
            out = np.empty((batch, n_out), np.float32)
            t = median_seconds(lambda a=a, w=w, out=out: np.matmul(a, w.T, out=out))
            results.append((f"forward  x W^T      [{batch}x{n_in}] [{n_in}x{n_out}]", t, flop / t / 1e9))
            grad = np.empty((n_out, n_in), np.float32)
            t = median_seconds(lambda a=a, d=d, grad=grad: np.matmul(d.T, a, out=grad))
            results.append((f"backward delta^T a  [{n_out}x{batch}] [{batch}x{n_in}]", t, flop / t / 1e9))
            if n_in != 784:  # the first layer needs no gradient of its input
                dx = np.empty((batch, n_in), np.float32)
                t = median_seconds(lambda d=d, w=w, dx=dx: np.matmul(d, w, out=dx))
                results.append((f"backward delta W    [{batch}x{n_out}] [{n_out}x{n_in}]", t, flop / t / 1e9))
        hidden = acts[1]  # [batch, 512]
        dropout = next(layer for layer in network.layers if type(layer).__name__ == "Dropout")
        results.append(
            ("dropout mask, 512 units (random numbers)", median_seconds(lambda: dropout._draw_mask(hidden)), None)
        )
        relu_out = np.empty_like(hidden)
        results.append(("ReLU forward, 512 units", median_seconds(lambda: np.maximum(hidden, 0, out=relu_out)), None))
        results.append(
            ("ReLU backward, 512 units", median_seconds(lambda: np.multiply(hidden, relu_out > 0, out=relu_out)), None)
        )
        loss = network.loss
        logits = deltas[2]
        seconds = median_seconds(lambda: loss.value_and_gradient(logits, y))
        results.append(("softmax cross-entropy, value and gradient", seconds, None))
        network.loss_and_gradients(x, y)
        results.append(("Adam's update of the 535,818 parameters", median_seconds(optimizer.step, 100, 10), None))
        order = rng.permutation(len(data.y_train))
        results.append(
            ("gathering the mini-batch's 128 rows", median_seconds(lambda: data.X_train[order[:batch]]), None)
        )
        test = data.X_test
        seconds = median_seconds(lambda: network.predict_proba(test), 5, 1)
        results.append(("evaluating the 10,000 test images (per epoch)", seconds, None))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("NEURALNET_DATA_DIR"), help="folder holding mnist/")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="BLAS thread counts (default 1 2)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_deep.txt")
    args = parser.parse_args(argv)
    from neuralnet.datasets import load_chapter_data

    data = load_chapter_data("mnist", data_dir=args.data_dir)
    lines = report_header(
        f"Where a mini-batch of the deep workload goes ({DEEP.title})",
        "python benchmarks/profile_deep.py --data-dir ../shared/data",
    )
    steps_per_epoch = len(data.y_train) // DEEP.batch_size
    for threads in args.threads:
        results = parts(data, threads)
        step = results[0][1]
        lines.append(f"{threads} BLAS thread{'s' * (threads != 1)}: median microseconds per call")
        for what, seconds, gflops in results:
            share = (
                ""
                if what == results[0][0]
                else "(per epoch)"
                if "per epoch" in what
                else f"{seconds / step * 100:5.1f}% of the step"
            )
            rate = f"{gflops:6.1f} GFLOP/s" if gflops else ""
            lines.append(f"  {what:<52} {seconds * 1e6:10.1f}  {rate:>14}  {share}")
        lines.append(
            f"  -> {steps_per_epoch} steps per epoch: {steps_per_epoch * step:.2f} s of mini-batches per epoch, "
            f"{DEEP.epochs * steps_per_epoch * step:.1f} s for {DEEP.epochs} epochs (evaluation apart)"
        )
        lines.append("")
    write_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
