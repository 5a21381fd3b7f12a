"""How neuralnet's time per epoch grows with batch size, hidden width and number of examples.

    python benchmarks/scaling.py --data-dir ../shared/data [--torch] [--quick]

Three sweeps around the chapter's network (784-50-10 sigmoid, MSE, SGD 0.1, batch 100,
55,000 examples), changing one thing at a time. Each point is the median time per epoch
of the mini-batch loop (no evaluation) over the epochs after the first. Beside it, the
ideal: the time proportional to the epoch's FLOPs (benchmarks/implementations/flops.py),
scaled from the sweep's own chapter point, and the time the matrix products would take at
the machine's float32 matrix-multiply peak. With --torch, PyTorch eager runs the same
points. Each implementation's sweep runs in a fresh process, alternating.

Writes benchmarks/results/scaling.{md,json,png} (with --quick: scaling_quick.*).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from implementations.child import child_environment, cpu_subset, run_child
from implementations.flops import training_flops
from implementations.workloads import CHAPTER, Workload

HERE = Path(__file__).resolve().parent
IMPLEMENTATIONS = {"neuralnet": ("neuralnet_engine", "neuralnet"), "torch": ("torch_eager", "PyTorch eager")}
REFERENCE = {"batch_size": CHAPTER.batch_size, "hidden": CHAPTER.hidden[0], "examples": 55_000}


@dataclass(frozen=True)
class Sweep:
    name: str  # the parameter that changes
    title: str
    values: tuple[int, ...]
    quick_values: tuple[int, ...]


SWEEPS = (
    Sweep("batch_size", "batch size", (10, 20, 50, 100, 200, 500, 1000, 2000), (20, 100, 500)),
    Sweep("hidden", "hidden units", (25, 50, 100, 200, 400, 800), (50, 200)),
    Sweep("examples", "training examples", (5_500, 11_000, 27_500, 55_000), (11_000, 55_000)),
)


def point_workload(parameters: dict, epochs: int) -> Workload:
    """The chapter's workload with one parameter changed, and no evaluation."""
    return CHAPTER.with_changes(
        hidden=(parameters["hidden"],), batch_size=parameters["batch_size"], epochs=epochs, evaluated=()
    )


def epoch_flops(parameters: dict) -> int:
    workload = point_workload(parameters, 1)
    trained = parameters["examples"] - parameters["examples"] % parameters["batch_size"]
    return trained * training_flops(workload.products)


def sweep_points(sweep: Sweep, quick: bool) -> list[dict]:
    return [dict(REFERENCE, **{sweep.name: value}) for value in (sweep.quick_values if quick else sweep.values)]


# -- inside the measuring process ------------------------------------------------------------


def measure_sweep(implementation: str, points: list[dict], data_dir: Path, epochs: int, threads: int) -> list[dict]:
    """Seconds per epoch of each point (median of the epochs after the first)."""
    import importlib

    from implementations.shared_data import Arrays
    from implementations.worker import limit_threads

    from neuralnet.datasets import load_chapter_data

    module = importlib.import_module(f"implementations.{IMPLEMENTATIONS[implementation][0]}")
    limit_threads(threads)
    full = Arrays(*load_chapter_data("mnist", data_dir=data_dir))
    results = []
    for parameters in points:
        n = parameters["examples"]
        arrays = full.replace(X_train=full.X_train[:n], y_train=full.y_train[:n])
        trained = module.train(point_workload(parameters, epochs), arrays, None, lambda *_: None)
        seconds = statistics.median(trained["epoch_seconds"][1:])
        results.append(dict(parameters, seconds=seconds))
        print(f"  {IMPLEMENTATIONS[implementation][1]}: {parameters} {seconds:.3f} s per epoch", flush=True)
    return results


# -- the orchestrating process -------------------------------------------------------------------


def run_sweep(implementation: str, sweep: Sweep, args) -> list[dict]:
    """One implementation's sweep, in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        run_child(
            [
                sys.executable,
                __file__,
                "--data-dir",
                str(args.data_dir),
                "--threads",
                str(args.threads),
                "--epochs",
                str(args.epochs),
                "--measure",
                implementation,
                "--sweep",
                sweep.name,
                "--result",
                str(result),
            ]
            + (["--quick"] if args.quick else []),
            child_environment(args.threads),
            echo=print,
            cpus=cpu_subset(args.threads),
        )
        return json.loads(result.read_text())


def measure_peak_gflops(threads: int) -> float:
    """The float32 matrix-multiply peak (implementations/machine.py), in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        task, result = Path(folder) / "task.json", Path(folder) / "result.json"
        task.write_text(json.dumps({"kind": "peak", "size": 4096, "repeats": 3, "threads": threads}))
        run_child(
            [sys.executable, "-m", "implementations.worker", str(task), str(result)],
            child_environment(threads),
            cpus=cpu_subset(threads),
        )
        return json.loads(result.read_text())["peak_gflops"]


def add_ideal_times(points: list[dict], peak_gflops: float) -> None:
    """FLOP-proportional time from the sweep's chapter point, and the time at peak."""
    reference = next(p for p in points if all(p[key] == value for key, value in REFERENCE.items()))
    for point in points:
        flops = epoch_flops(point)
        point["gflop"] = flops / 1e9
        point["ideal_seconds"] = reference["seconds"] * flops / epoch_flops(reference)
        point["peak_seconds"] = flops / (peak_gflops * 1e9)
        point["gflops"] = flops / point["seconds"] / 1e9


def markdown(results: dict, args, peak_gflops: float) -> str:
    implementations = list(next(iter(results.values())))
    lines = [
        "# How time per epoch grows",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')}: `python {' '.join(sys.argv)}`; "
        f"{args.threads} threads, median of epochs 2..{args.epochs}, the mini-batch loop only (no evaluation). "
        f"Around the chapter's point (batch {REFERENCE['batch_size']}, {REFERENCE['hidden']} hidden units, "
        f"{REFERENCE['examples']:,} examples). **FLOP-proportional**: the chapter point's time scaled by the "
        f"FLOPs; **at peak**: the matrix products alone at {peak_gflops:.0f} GFLOP/s.",
        "",
    ]
    if args.quick:
        lines += ["**Quick run (`--quick`): a check that the script works, not a measurement.**", ""]
    for sweep in SWEEPS:
        header = " | ".join(f"{IMPLEMENTATIONS[i][1]} s / epoch" for i in implementations)
        lines += [
            f"## {sweep.title}",
            "",
            f"| {sweep.title} | GFLOP / epoch | {header} | FLOP-proportional s | at peak s "
            f"| neuralnet / FLOP-proportional | neuralnet GFLOP/s |",
            "|" + "---:|" * (6 + len(implementations)),
        ]
        by_implementation = {i: results[sweep.name][i] for i in implementations}
        for index, point in enumerate(by_implementation["neuralnet"]):
            times = " | ".join(f"{by_implementation[i][index]['seconds']:.3f}" for i in implementations)
            lines.append(
                f"| {point[sweep.name]:,} | {point['gflop']:.2f} | {times} | {point['ideal_seconds']:.3f} "
                f"| {point['peak_seconds']:.3f} | {point['seconds'] / point['ideal_seconds']:.2f} "
                f"| {point['gflops']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    figure = Figure(figsize=(15, 4.5), layout="constrained")
    axes = figure.subplots(1, len(SWEEPS))
    for ax, sweep in zip(axes, SWEEPS):
        series = results[sweep.name]
        reference = series["neuralnet"]
        x = [p[sweep.name] for p in reference]
        for implementation, points in series.items():
            ax.plot(x, [p["seconds"] for p in points], "o-", label=IMPLEMENTATIONS[implementation][1])
        ax.plot(x, [p["ideal_seconds"] for p in reference], "k--", label="FLOP-proportional")
        ax.plot(x, [p["peak_seconds"] for p in reference], "k:", label="matrix products at peak")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=sweep.title,
            ylabel="seconds per epoch",
            title=f"time per epoch vs {sweep.title}",
        )
        ax.set_xticks(x, labels=[f"{value:,}" for value in x], minor=False)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    figure.savefig(path, dpi=110)


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
    parser.add_argument("--torch", action="store_true", help="also measure PyTorch eager")
    parser.add_argument("--quick", action="store_true", help="fewer points and epochs: a check that it runs")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads (default: all, %(default)s)")
    parser.add_argument("--epochs", type=int, help="epochs per point; the first is not counted (default 3; quick 2)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    # the measuring child process
    parser.add_argument("--measure", choices=list(IMPLEMENTATIONS), help=argparse.SUPPRESS)
    parser.add_argument("--sweep", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.data_dir is None:
        parser.error("give --data-dir (a folder holding mnist/) or set NEURALNET_DATA_DIR")
    args.epochs = args.epochs or (2 if args.quick else 3)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is a warm-up)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure:
        sweep = next(s for s in SWEEPS if s.name == args.sweep)
        points = measure_sweep(args.measure, sweep_points(sweep, args.quick), args.data_dir, args.epochs, args.threads)
        args.result.write_text(json.dumps(points))
        return 0

    implementations = ["neuralnet", "torch"] if args.torch else ["neuralnet"]
    peak_gflops = measure_peak_gflops(args.threads)
    results = {}
    for sweep in SWEEPS:
        results[sweep.name] = {
            implementation: run_sweep(implementation, sweep, args) for implementation in implementations
        }
        for points in results[sweep.name].values():
            add_ideal_times(points, peak_gflops)
    text = markdown(results, args, peak_gflops)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "scaling_quick" if args.quick else "scaling"
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(
        json.dumps(
            {"peak_gflops": peak_gflops, "threads": args.threads, "epochs": args.epochs, "results": results}, indent=1
        )
        + "\n"
    )
    plot(results, args.out / f"{stem}.png")
    print(f"wrote {args.out / stem}.md, .json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
