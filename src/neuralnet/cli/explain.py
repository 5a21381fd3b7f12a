"""``neuralnet explain``: one training step of a small network, every number shown."""

from __future__ import annotations

import argparse
import json
import re

from ..engine.losses import LOSSES
from ..runs.config import HIDDEN_ACTIVATIONS


def add_parser(subparsers) -> None:
    """Add the ``explain`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "explain",
        help="walk through one training step (forward, backward, gradients, update)",
        description="Walk through one step of training on the small network of the chapter's Figure "
        "11.11 (2 inputs, 3 hidden units, 2 outputs) with a seeded input, in the chapter's "
        "notation: every net input z and activation a, the loss, the output delta "
        "delta^(out) and the hidden delta delta^(h), each gradient dL/dW and dL/db as "
        "backpropagation computes it beside the same gradient by central finite "
        "differences (with their relative error), and the weights after one SGD step. "
        "Everything is computed in float64 by the engine's own layers, loss and optimizer.",
    )
    parser.add_argument(
        "--hidden", type=int, default=3, metavar="UNITS", help="number of hidden units (default: 3, as in Figure 11.11)"
    )
    parser.add_argument(
        "--activation",
        choices=list(HIDDEN_ACTIVATIONS),
        default="sigmoid",
        help="activation of the hidden layer (default: sigmoid)",
    )
    parser.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default="mse",
        help="mse: sigmoid outputs and the chapter's squared error; cross-entropy: softmax "
        "outputs and the log-loss (default: mse)",
    )
    parser.add_argument(
        "--examples", type=int, default=1, metavar="N", help="number of examples in the mini-batch (default: 1)"
    )
    parser.add_argument("--seed", type=int, default=123, help="seed of the weights and of the input (default: 123)")
    parser.add_argument(
        "--lr",
        "--learning-rate",
        dest="lr",
        type=float,
        default=0.1,
        metavar="RATE",
        help="learning rate eta of the SGD step (default: 0.1)",
    )
    parser.add_argument(
        "--eps", type=float, default=1e-6, help="step of the central finite differences (default: 1e-6)"
    )
    parser.add_argument(
        "--conv",
        action="store_true",
        help="walk through a convolution instead: one 3x3 filter on a seeded 5x5 image, then sigmoid "
        "and the MSE loss against a seeded 3x3 target (--seed, --lr, --eps apply)",
    )
    parser.add_argument("--json", action="store_true", help="print the walk-through as JSON")
    parser.set_defaults(run=run)


# an innermost JSON list (no list or object inside it) spread over several lines
_INNERMOST_LIST = re.compile(r"\[\n\s*([^\[\]{}]*?)\n\s*\]")


def to_json(data: dict) -> str:
    """Indented JSON with each row of numbers on one line (JSON strings hold no raw newline,
    so ",\n" only ever separates the items of a list)."""
    text = json.dumps(data, indent=2)
    return _INNERMOST_LIST.sub(lambda m: "[" + ", ".join(item.strip() for item in m.group(1).split(",\n")) + "]", text)


def run(args: argparse.Namespace) -> int:
    """Print the walk-through of one training step (of a convolution with ``args.conv``); the exit status."""
    from ..explain import format_walkthrough, walk_through

    if args.conv:
        from ..explain_conv import format_convolution_walkthrough, walk_through_convolution

        conv_walk = walk_through_convolution(seed=args.seed, lr=args.lr, eps=args.eps)
        print(to_json(conv_walk.to_dict()) if args.json else format_convolution_walkthrough(conv_walk))
        return 0

    walk = walk_through(
        args.hidden,
        activation=args.activation,
        loss=args.loss,
        seed=args.seed,
        lr=args.lr,
        examples=args.examples,
        eps=args.eps,
    )
    print(to_json(walk.to_dict()) if args.json else format_walkthrough(walk))
    return 0
