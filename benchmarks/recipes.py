"""The results recipes: train each recipe for several seeds and report test accuracy and time.

    python benchmarks/recipes.py recipes/mnist-deep.toml recipes/fashion-mnist-deep.toml \
        --data-dir ../shared/data --seeds 1 2 3

Each recipe is a ``neuralnet train --config`` file; every run is ``neuralnet.runs.experiment.train_run``
(what ``neuralnet train --config RECIPE --seed SEED`` does) with only the seed changed, one
after the other in this process, into a temporary run folder. The recipes were chosen by
validation accuracy; the test set is only measured here. For each recipe the table gives
the mean and the sample standard deviation over the seeds of the test accuracy and of the
training seconds (the training loop with the per-epoch evaluation of the training and
validation sets, data loading excluded), the validation accuracy after the last epoch, and
the 1-minute load average of the machine before each run (mean over the runs), since other
work on the machine slows training down.
Writes ``benchmarks/results/recipes.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neuralnet import __version__
from neuralnet.runs.config import DATASET_NAMES, TrainingConfig
from neuralnet.runs.experiment import train_run

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_recipe(path: Path, seeds: list[int], data_dir: Path | None, dataset: str | None) -> dict:
    base = TrainingConfig.from_toml(path)
    if dataset is not None:
        base.dataset = dataset
    runs = []
    for seed in seeds:
        config = TrainingConfig.from_dict({**base.to_dict(), "seed": seed})
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as out:
            result = train_run(
                config, data_dir=data_dir, out=out, log=None, progress=False, figures=False, download=data_dir is None
            )
        history = result.history
        run = {
            "seed": seed,
            "test_acc": result.metrics["test_acc"] * 100,
            "train_seconds": result.metrics["train_seconds"],
            "epochs_run": result.metrics["epochs_run"],
            "final_valid_acc": history["valid_acc"][-1] * 100,
            "best_valid_acc": max(history["valid_acc"]) * 100,
            "loop_seconds": sum(history["seconds"]),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        }
        runs.append(run)
        print(
            f"{path.name} [{config.dataset}] seed {seed}: test accuracy {run['test_acc']:.2f}%, "
            f"{run['train_seconds']:.1f} s ({run['epochs_run']} epochs, load {load_before:.2f})",
            flush=True,
        )
    return {
        "recipe": str(path),
        "dataset": base.dataset,
        "config": base.to_dict(),
        "runs": runs,
        "summary": summarize(runs),
    }


def summarize(runs: list[dict]) -> dict:
    summary = {}
    for key in ("test_acc", "train_seconds", "final_valid_acc", "load_before"):
        values = [run[key] for run in runs]
        summary[key] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values),
            "max": max(values),
        }
    return summary


def command_for(recipe: dict, seeds: list[int]) -> str:
    return (
        f"for seed in {' '.join(map(str, seeds))}; do neuralnet train --config {recipe['recipe']} "
        f"--data-dir ../shared/data --seed $seed; done"
    )


def markdown(recipes: list[dict], seeds: list[int]) -> str:
    lines = [
        f"Recipes, seeds {', '.join(map(str, seeds))} ({os.cpu_count()} cores, {platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}); mean ± sample standard deviation over the seeds:",
        "",
        "| recipe | data set | test accuracy | per seed | validation accuracy | training seconds | epochs "
        "| load average |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for recipe in recipes:
        s, runs = recipe["summary"], recipe["runs"]
        per_seed = ", ".join(f"{run['test_acc']:.2f}" for run in runs)
        epochs = sorted({run["epochs_run"] for run in runs})
        lines.append(
            f"| `{recipe['recipe']}` | {recipe['dataset']} | {s['test_acc']['mean']:.2f}% ± {s['test_acc']['std']:.2f} "
            f"| {per_seed} | {s['final_valid_acc']['mean']:.2f}% "
            f"| {s['train_seconds']['mean']:.1f} ± {s['train_seconds']['std']:.1f} "
            f"| {'/'.join(map(str, epochs))} | {s['load_before']['mean']:.2f} |"
        )
    lines += ["", "Commands (one run per seed):", ""]
    lines += [f"    {command_for(recipe, seeds)}" for recipe in recipes]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "recipes",
        nargs="*",
        type=Path,
        default=[ROOT / "recipes" / "mnist-deep.toml", ROOT / "recipes" / "fashion-mnist-deep.toml"],
        help="recipe TOML files (default: the MNIST and Fashion-MNIST recipes)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds (default 1 2 3)")
    parser.add_argument("--data-dir", type=Path, help="folder holding mnist/ and fashion-mnist/")
    parser.add_argument("--dataset", choices=DATASET_NAMES, help="train every recipe on this data set instead")
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results",
        help="where recipes.md and recipes.json go (default benchmarks/results)",
    )
    args = parser.parse_args(argv)
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f"--seeds must be distinct, got {args.seeds}")

    recipes = []
    for path in args.recipes:
        recipe = run_recipe(path, args.seeds, args.data_dir, args.dataset)
        try:
            recipe["recipe"] = str(path.resolve().relative_to(ROOT))
        except ValueError:
            pass
        recipes.append(recipe)

    table = markdown(recipes, args.seeds)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recipes.md").write_text(table + "\n")
    info = {
        "neuralnet": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    (args.out / "recipes.json").write_text(
        json.dumps({"machine": info, "seeds": args.seeds, "recipes": recipes}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
