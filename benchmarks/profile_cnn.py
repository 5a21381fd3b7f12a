"""Where a mini-batch of the cnn workload goes: each layer's forward and backward pass timed in turn.

    python benchmarks/profile_cnn.py --data-dir ../shared/data [--threads 2] [--steps 20] [--torch]

The cnn workload (recipes/mnist-cnn.toml's network: conv 5x5 32 - ReLU - max-pool - conv 5x5 64 -
ReLU - max-pool - dense 512 - ReLU - dropout 0.5 - dense 10, softmax cross-entropy, Adam 1e-3,
batch 128), built as ``neuralnet train`` builds it. Training steps on MNIST mini-batches, each
layer's forward and backward pass timed where it runs in the step (so caches are as a training
leaves them), Adam's update apart; the minimum and the median over the steps after three of
warm-up (the median is what a training sees on a busy machine, the minimum what the code costs).
Then the floor of the approach: the matrix products the convolutions and the dense layer need,
each timed alone at the shapes the layers use (the convolutions' chunks of examples), with their
GFLOP/s. With --torch, PyTorch eager's whole training step (the same network, loss, optimizer and
mini-batches, as benchmarks/compare.py runs it) is timed the same way, in the same process and
under the same malloc settings, after neuralnet's. Writes benchmarks/results/profile_cnn.txt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from implementations.neuralnet_engine import build_network, initial_weights, training_config
from implementations.reports import call_seconds, report_header, write_report
from implementations.workloads import CNN
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent


def best_seconds(function, repeats: int = 20) -> float:
    """The shortest wall time of ``function()`` over ``repeats`` calls, after two untimed ones."""
    return min(call_seconds(function, repeats, warm=2))


def layer_times(data, steps: int):
    """Per layer: (name, forward seconds per step [list], backward seconds per step [list]); Adam's
    seconds [list]; whole steps' seconds [list]."""
    from neuralnet.runs.builder import build_optimizer
    from neuralnet.training.data import one_hot

    network = build_network(CNN)
    optimizer = build_optimizer(training_config(CNN), network)
    batch = CNN.batch_size
    order = np.random.default_rng(0).permutation(len(data.y_train))
    count = len(network.layers)
    forward: list[list[float]] = [[] for _ in range(count)]
    backward: list[list[float]] = [[] for _ in range(count)]
    adam, whole = [], []
    for step in range(steps + 3):
        rows = order[step * batch : (step + 1) * batch]
        x = data.X_train[rows].reshape(-1, *network.input_shape)
        y = one_hot(data.y_train[rows], 10, dtype=np.float32)
        began = time.perf_counter()
        a, spent_f, spent_b = x, [0.0] * count, [0.0] * count
        for index in network.execution_order:  # as Network.forward runs them
            started = time.perf_counter()
            a = network.layers[index].forward(a, True)
            spent_f[index] = time.perf_counter() - started
        _, grad = network.loss.value_and_gradient(a, y)
        for index in reversed(network.execution_order):  # as Network.backward
            started = time.perf_counter()
            grad = network.layers[index].backward(grad, need_input_grad=index > 0)
            network.layers[index].forget()
            spent_b[index] = time.perf_counter() - started
        started = time.perf_counter()
        optimizer.step()
        ended = time.perf_counter()
        if step >= 3:
            for index in range(count):
                forward[index].append(spent_f[index])
                backward[index].append(spent_b[index])
            adam.append(ended - started)
            whole.append(ended - began)
    names = [type(layer).__name__ for layer in network.layers]
    return network, list(zip(names, forward, backward)), adam, whole


def torch_step_times(data, steps: int, threads: int) -> list[float]:
    """PyTorch eager's training step on the same mini-batches, from neuralnet's initial weights:
    the seconds of each of ``steps`` steps after three of warm-up (``torch_eager.train_step``, as
    benchmarks/compare.py trains)."""
    import torch
    from implementations import torch_eager

    torch.set_num_threads(threads)
    model = torch_eager.build_model(CNN, initial_weights(CNN))
    optimizer = torch_eager.OPTIMIZERS[CNN.optimizer](model.parameters(), lr=CNN.lr)
    loss_function = torch_eager._loss_function(CNN)
    X = torch.from_numpy(data.X_train)  # flat rows: the model begins by unflattening them
    targets = torch_eager._targets(CNN, data.y_train)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(data.y_train)))
    model.train()
    seconds = []
    for step in range(steps + 3):
        rows = order[step * CNN.batch_size : (step + 1) * CNN.batch_size]
        began = time.perf_counter()
        torch_eager.train_step(model, optimizer, loss_function, X, targets, rows)
        if step >= 3:
            seconds.append(time.perf_counter() - began)
    return seconds


def product_floor(network) -> list[tuple[str, float, float]]:
    """(what, seconds, GFLOP/s) of each matrix product a training step needs, at the layers' shapes."""
    from neuralnet.engine import kernels
    from neuralnet.engine.conv import Conv2D
    from neuralnet.engine.layers import Dense

    rng = np.random.default_rng(1)
    batch = CNN.batch_size
    shapes = [network.input_shape, *network.layer_shapes[:-1]]
    results = []
    for index, (layer, shape) in enumerate(zip(network.layers, shapes)):
        if isinstance(layer, Conv2D):
            _, oh, ow = layer.output_shape(shape)
            k = layer.weight[0].size  # c kh kw
            out = layer.out_channels
            # the network's input images are channels-first memory: channel-major columns with a
            # row of ones for the bias, the batch's at once when they are kept for the backward pass
            channel_major = index == 0
            k += int(channel_major)
            kept = channel_major and batch * oh * ow * k <= kernels.KEPT_COLUMNS
            step = batch if kept else layer._chunks(batch, oh * ow, channel_major)
            rows = step * oh * ow
            cols = rng.standard_normal((k, rows) if channel_major else (rows, k), dtype=np.float32)
            cols = cols.T if channel_major else cols  # [rows, k], as the layer multiplies it
            w = rng.standard_normal((out, k), dtype=np.float32)
            d = rng.standard_normal((rows, out), dtype=np.float32)
            chunks = -(-batch // step)
            flop = 2.0 * rows * k * out
            z = np.empty((rows, out), np.float32)
            t = best_seconds(lambda cols=cols, w=w, z=z: np.matmul(cols, w.T, out=z)) * chunks
            results.append((f"layer {index} conv forward  [{rows}x{k}] [{k}x{out}] x {chunks}", t, flop * chunks / t))
            g = np.empty((k, out), np.float32)
            t = best_seconds(lambda cols=cols, d=d, g=g: np.matmul(cols.T, d, out=g)) * chunks
            what = f"layer {index} conv dL/dW^T   [{k}x{rows}] [{rows}x{out}] x {chunks}"
            results.append((what, t, flop * chunks / t))
            if index > 0:
                c = layer.in_channels
                k_t = layer.kernel_size[0] * layer.kernel_size[1] * out
                per_example = max(oh * ow * k, shape[1] * shape[2] * k_t)
                t_step = max(1, min(batch, kernels.IM2COL_ELEMENTS // per_example))
                t_rows, t_chunks = t_step * shape[1] * shape[2], -(-batch // t_step)
                d_cols = rng.standard_normal((t_rows, k_t), dtype=np.float32)
                w_t = rng.standard_normal((c, k_t), dtype=np.float32)
                gx = np.empty((t_rows, c), np.float32)
                t = best_seconds(lambda d_cols=d_cols, w_t=w_t, gx=gx: np.matmul(d_cols, w_t.T, out=gx)) * t_chunks
                t_flop = 2.0 * t_rows * k_t * c * t_chunks
                what = f"layer {index} conv dL/dx     [{t_rows}x{k_t}] [{k_t}x{c}] x {t_chunks}"
                results.append((what, t, t_flop / t))
        elif isinstance(layer, Dense):
            n_in, n_out = layer.n_in, layer.n_out
            a = rng.standard_normal((batch, n_in), dtype=np.float32)
            w = rng.standard_normal((n_out, n_in), dtype=np.float32)
            d = rng.standard_normal((batch, n_out), dtype=np.float32)
            flop = 2.0 * batch * n_in * n_out
            t = best_seconds(lambda a=a, w=w: a @ w.T)
            results.append((f"layer {index} dense forward [{batch}x{n_in}] [{n_in}x{n_out}]", t, flop / t))
            t = best_seconds(lambda a=a, d=d: d.T @ a)
            results.append((f"layer {index} dense dL/dW   [{n_out}x{batch}] [{batch}x{n_in}]", t, flop / t))
            t = best_seconds(lambda w=w, d=d: d @ w)
            results.append((f"layer {index} dense dL/dx   [{batch}x{n_out}] [{n_out}x{n_in}]", t, flop / t))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("NEURALNET_DATA_DIR"), help="folder holding mnist/")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (default 20)")
    parser.add_argument("--torch", action="store_true", help="also time PyTorch eager's step")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_cnn.txt")
    args = parser.parse_args(argv)
    from neuralnet.datasets import load_chapter_data
    from neuralnet.engine.kernels import keep_freed_memory

    keep_freed_memory()  # as Trainer.fit does
    data = load_chapter_data("mnist", data_dir=args.data_dir)
    steps_per_epoch = len(data.y_train) // CNN.batch_size
    with threadpool_limits(args.threads):
        network, layers, adam, whole = layer_times(data, args.steps)
        floor = product_floor(network)
    torch_steps = torch_step_times(data, args.steps, args.threads) if args.torch else None
    lines = report_header(
        f"Where a mini-batch of the cnn workload goes ({CNN.title})",
        f"python benchmarks/profile_cnn.py --data-dir ../shared/data --threads {args.threads}"
        + " --torch" * args.torch,
        f", {args.threads} BLAS thread{'s' * (args.threads != 1)}",
    )
    lines += [
        f"Training steps, each layer where it runs ({args.steps} steps after 3 of warm-up), milliseconds:",
        f"  {'layer':<16} {'forward min':>12} {'median':>8} {'backward min':>13} {'median':>8}",
    ]
    for index, (name, forward, backward) in enumerate(layers):
        lines.append(
            f"  {index:2d} {name:<13} {min(forward) * 1e3:12.2f} {statistics.median(forward) * 1e3:8.2f} "
            f"{min(backward) * 1e3:13.2f} {statistics.median(backward) * 1e3:8.2f}"
        )
    lines.append(f"  Adam's update    {min(adam) * 1e3:12.2f} {statistics.median(adam) * 1e3:8.2f}")
    step_min, step_median = min(whole), statistics.median(whole)
    lines.append(
        f"  the whole step: min {step_min * 1e3:.1f} ms, median {step_median * 1e3:.1f} ms -> "
        f"{steps_per_epoch * step_min:.1f} to {steps_per_epoch * step_median:.1f} s per epoch of "
        f"{steps_per_epoch} mini-batches"
    )
    lines += ["", "The matrix products alone, at the layers' shapes (best of 20 calls; a convolution's chunks):"]
    for what, seconds, rate in floor:
        lines.append(f"  {what:<58} {seconds * 1e3:8.2f} ms {rate / 1e9:7.1f} GFLOP/s")
    total = sum(seconds for _, seconds, _ in floor)
    lines.append(
        f"  -> {total * 1e3:.1f} ms per step, {steps_per_epoch * total:.1f} s per epoch: the products alone, the "
        f"floor of im2col and one product per chunk on this machine ({total / step_min * 100:.0f}% of the fastest step)"
    )
    if torch_steps is not None:
        torch_min, torch_median = min(torch_steps), statistics.median(torch_steps)
        lines += [
            "",
            f"PyTorch eager's whole step, the same network and mini-batches ({args.steps} steps after 3 of warm-up):",
            f"  min {torch_min * 1e3:.1f} ms, median {torch_median * 1e3:.1f} ms; neuralnet's fastest step takes "
            f"{step_min / torch_min:.2f}x as long as its fastest, its products alone {total / torch_min:.2f}x",
        ]
    write_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
