"""``neuralnet evaluate RUN``: measure a trained run on its test set again."""

from __future__ import annotations

import argparse
import json

from .options import add_data_options


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="test accuracy, MSE and confusion matrix of a run",
        description="Reload the model of a run folder, rebuild the same data split and print the "
                    "test accuracy, loss, MSE and the confusion matrix.")
    parser.add_argument("run_folder", metavar="RUN", help="a run folder written by `neuralnet train`")
    add_data_options(parser)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--allow-other-data", action="store_true",
                        help="measure the model even on data that differ from those it was trained on (other "
                             "classes, image shape or split): by default that is refused")
    parser.set_defaults(run=run)


def format_confusion_matrix(matrix: list[list[int]]) -> str:
    size = len(matrix)
    width = max(5, max(len(str(v)) for row in matrix for v in row) + 1)
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(size))]
    lines += [f"{i:>9}" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(matrix)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..runs.experiment import evaluate_run

    metrics = evaluate_run(args.run_folder, data_dir=args.data_dir, download=args.download,
                           allow_other_data=args.allow_other_data)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    for problem in metrics.get("data_mismatches", []):
        print(f"warning: {problem}")
    print(f"Test accuracy: {metrics['test_acc'] * 100:.2f}%")
    print(f"Test loss: {metrics['test_loss']:.4f}")
    print(f"Test MSE: {metrics['test_mse']:.4f}")
    print(f"Confusion matrix ({metrics['n_test']} test images; rows: true class, columns: predicted):")
    print(format_confusion_matrix(metrics["confusion_matrix"]))
    return 0
