"""``neuralnet evaluate RUN``: measure a trained run on its test set again."""

from __future__ import annotations

import argparse
import json

from .options import add_data_options


def add_parser(subparsers) -> None:
    """Add the ``evaluate`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "evaluate",
        help="test accuracy, MSE and confusion matrix of a run",
        description="Reload the model of a run folder, rebuild the same data split and print the "
        "test accuracy, loss, MSE and the confusion matrix.",
    )
    parser.add_argument("run_folder", metavar="RUN", help="a run folder written by `neuralnet train`")
    add_data_options(parser)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument(
        "--data",
        metavar="PATH",
        help="measure the model on another file or folder of the same kind as its own data (a CSV "
        "with the same columns, an image folder with the same classes...) instead of its test "
        "split",
    )
    parser.add_argument(
        "--allow-other-data",
        action="store_true",
        help="measure the model even on data that differ from those it was trained on (other "
        "classes, image shape or split): by default that is refused",
    )
    parser.set_defaults(run=run)


def format_confusion_matrix(matrix: list[list[int]], classes=None) -> str:
    """The matrix as text, rows and columns labelled by the class names (default 0..k-1)."""
    names = [str(c) for c in (classes if classes is not None else range(len(matrix)))]
    width = max(5, max(len(str(v)) for row in matrix for v in row) + 1, max(len(n) for n in names) + 1)
    first = max(9, max(len(n) for n in names))
    corner = "true\\pred"
    lines = [f"{corner:<{first}}" + "".join(f"{n:>{width}}" for n in names)]
    lines += [f"{n:>{first}}" + "".join(f"{v:>{width}}" for v in row) for n, row in zip(names, matrix)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the test metrics of ``args.run_folder`` (on ``args.data`` if given); the exit status."""
    from ..runs.experiment import evaluate_run

    if args.data is not None:
        from ..runs.scoring import evaluate_on

        metrics = evaluate_on(args.run_folder, args.data)
    else:
        metrics = evaluate_run(
            args.run_folder, data_dir=args.data_dir, download=args.download, allow_other_data=args.allow_other_data
        )
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    if "test_r2" in metrics:
        print(f"Test R^2: {metrics['test_r2']:.4f}")
        print(f"Test MSE: {metrics['test_mse']:.6g} (in the targets' own units, {metrics['n_test']} examples)")
        return 0
    for problem in metrics.get("data_mismatches", []):
        print(f"warning: {problem}")
    print(f"Test accuracy: {metrics['test_acc'] * 100:.2f}%")
    print(f"Test loss: {metrics['test_loss']:.4f}")
    print(f"Test MSE: {metrics['test_mse']:.4f}")
    print(f"Confusion matrix ({metrics['n_test']} test examples; rows: true class, columns: predicted):")
    print(format_confusion_matrix(metrics["confusion_matrix"], metrics.get("classes")))
    return 0
