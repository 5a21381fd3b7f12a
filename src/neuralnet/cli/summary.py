"""``neuralnet summary RUN``: a trained model's layers, output shapes and parameter counts."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    """Add the ``summary`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "summary",
        help="print a model's layers, output shapes and parameter counts",
        description="Print the network of a run folder (or of a .safetensors model file) as a table, like "
        "Keras's model.summary(): each layer, the shape of one example's output, its number of "
        "parameters, and the totals; with the classes and the test metrics the model file records.",
    )
    parser.add_argument("run_folder", metavar="RUN", help="a run folder written by `neuralnet train`, or a model file")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the layers of the model of ``args.run_folder`` (as JSON with ``args.json``); the exit status."""
    from ..serving.modelfile import load_model

    network, header = load_model(args.run_folder)
    if args.json:
        print(
            json.dumps(
                {
                    "input_shape": list(network.input_shape),
                    "loss": network.loss.name,
                    "dtype": network.dtype.name,
                    "layers": network.summary_rows(),
                    "classes": header.get("classes"),
                },
                indent=2,
            )
        )
        return 0
    print(network.summary())
    classes = header.get("classes")
    if classes is not None:
        shown = ", ".join(map(str, classes[:12])) + (", ..." if len(classes) > 12 else "")
        print(f"Classes ({len(classes)}): {shown}")
    metrics = header.get("metrics") or {}
    if "test_acc" in metrics:
        print(f"Test accuracy: {metrics['test_acc'] * 100:.2f}%")
    elif "test_r2" in metrics:
        print(f"Test R^2: {metrics['test_r2']:.4f}")
    return 0
