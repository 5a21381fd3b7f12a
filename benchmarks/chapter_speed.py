"""The chapter's 50-epoch training: neuralnet against the seed reference, side by side.

    python benchmarks/chapter_speed.py --data-dir ../shared/data \
        --reference ../shared/reference/seed_reference.py --rounds 3

Each round runs the seed reference and then ``neuralnet train`` (784-50-10 sigmoid, MSE,
SGD 0.1, batch 100, 50 epochs, training and validation sets evaluated every epoch), each
in a fresh process, alternating A B A B ... Both report the seconds of their training
loop (evaluation included, data loading excluded) and their test accuracy; the table gives
the medians and the speed-up of neuralnet (reference seconds / neuralnet seconds).
Writes ``benchmarks/results/chapter_speed.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_reference(reference: Path, data_dir: Path, epochs: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(reference), str(data_dir / "mnist"), str(epochs)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        "seconds": float(re.search(r"train_seconds=([\d.]+)", out).group(1)),
        "test_acc": float(re.search(r"test_acc=([\d.]+)", out).group(1)),
    }


def run_neuralnet(data_dir: Path, epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "neuralnet",
                "train",
                "--data-dir",
                str(data_dir),
                "--out",
                out,
                "--epochs",
                str(epochs),
                "--no-figures",
                "--no-progress",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        metrics = json.loads(next(Path(out).glob("*/metrics.json")).read_text())
    return {"seconds": metrics["train_seconds"], "test_acc": metrics["test_acc"] * 100}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding mnist/")
    parser.add_argument("--reference", type=Path, required=True, help="path of seed_reference.py")
    parser.add_argument("--rounds", type=int, default=3, help="A B rounds (default 3)")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    runs = {"seed reference": [], "neuralnet": []}
    for round_number in range(1, args.rounds + 1):
        for name, fn in (
            ("seed reference", lambda: run_reference(args.reference, args.data_dir, args.epochs)),
            ("neuralnet", lambda: run_neuralnet(args.data_dir, args.epochs)),
        ):
            result = fn()
            runs[name].append(result)
            print(
                f"round {round_number}: {name}: {result['seconds']:.2f} s, test accuracy {result['test_acc']:.2f}%",
                flush=True,
            )

    summary = {
        name: {
            "median_seconds": statistics.median(r["seconds"] for r in rs),
            "seconds": [r["seconds"] for r in rs],
            "test_acc": [r["test_acc"] for r in rs],
        }
        for name, rs in runs.items()
    }
    speedup = summary["seed reference"]["median_seconds"] / summary["neuralnet"]["median_seconds"]
    lines = [
        f"Chapter configuration, {args.epochs} epochs, median of {args.rounds} alternating runs "
        f"({platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}):",
        "",
        "| implementation | training seconds (median) | test accuracy | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name, s in summary.items():
        ratio = summary["seed reference"]["median_seconds"] / s["median_seconds"]
        lines.append(f"| {name} | {s['median_seconds']:.2f} | {statistics.median(s['test_acc']):.2f}% | {ratio:.2f}x |")
    table = "\n".join(lines)
    print("\n" + table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chapter_speed.md").write_text(table + "\n")
    (args.out / "chapter_speed.json").write_text(
        json.dumps({"summary": summary, "speedup": speedup, "epochs": args.epochs}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
