"""``neuralnet predict RUN FILE``: a trained model's predictions for a file or a folder of images."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Add the ``predict`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "predict",
        help="predict the rows of a CSV/.npz file or the images of a folder",
        description="Predict with the model of a run folder (or a model file): for a CSV file (the model's feature "
        "columns, by name; other columns are left out) or a .npz file (X), a CSV table with one row "
        "per example: the prediction and each class's probability (or each predicted target of a "
        "regression); for a folder, one line per PNG/JPEG image: the file, the predicted class and "
        "its probability. The model's own preprocessing is applied to the raw values.",
    )
    parser.add_argument("run_folder", metavar="RUN", help="a run folder written by `neuralnet train`, or a model file")
    parser.add_argument("data", metavar="FILE", help="a CSV or .npz file, or a folder of images")
    parser.add_argument(
        "--out",
        metavar="CSV",
        help="write the predictions to CSV (never over an existing file) instead of printing them",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the predictions for ``args.data`` (or write them to ``args.out``); the exit status."""
    from ..runs.scoring import predict_file

    text, count = predict_file(args.run_folder, args.data, args.out)
    if args.out:
        print(f"{count} predictions written to {args.out}")
    else:
        print(text, end="")
    return 0
