"""``neuralnet serve [RUN]``: the browser app (draw a digit, inspect the model) for a run."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected a number from 0 to 65535") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: expected a number from 0 to 65535")
    return port


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def add_parser(subparsers) -> None:
    """Add the ``serve`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "serve",
        help="a web app to draw digits and inspect a trained run",
        description="Start a local web app for a trained run: draw a digit (or upload a PNG/JPEG) and "
        "see the network's answer and the 28 x 28 image it sees; inspect the architecture, "
        "hyper-parameters, curves, confusion matrix, misclassified images and hidden units; train a "
        "network from the page and watch it learn (the 2-D problems' decision boundary live); step "
        "through one backpropagation step with every number on the graph. "
        "The JSON API it uses is documented at /docs.",
    )
    parser.add_argument(
        "run_folder",
        metavar="RUN",
        nargs="?",
        help="a run folder written by `neuralnet train` (default: the latest in --runs-dir)",
    )
    parser.add_argument(
        "--runs-dir",
        default="runs",
        metavar="DIR",
        help="where to look for the latest run when RUN is not given (default: runs)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)"
    )
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument(
        "--train-out",
        metavar="DIR",
        help="where the trainings started from the page (Train view) write their run folders (default: the "
        "folder holding RUN)",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="where those trainings find MNIST and Fashion-MNIST")
    parser.add_argument(
        "--max-trainings",
        type=_positive,
        default=1,
        metavar="N",
        help="trainings that may run at the same time, each in a process of its own (default: 1)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: info)",
    )
    parser.set_defaults(run=run)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Serve the web app of ``args.run_folder`` (default: the latest run) until stopped; the exit status."""
    import uvicorn

    from ..runs.folders import latest_run
    from ..web import create_app

    folder = Path(args.run_folder) if args.run_folder else latest_run(args.runs_dir)
    app = create_app(folder, train_out=args.train_out, data_dir=args.data_dir, max_trainings=args.max_trainings)
    if not _is_loopback(args.host):
        print(f"warning: listening on {args.host}: the app is reachable from other machines", file=sys.stderr)
    print(f"Serving run {folder} at http://{args.host}:{args.port}/ (API docs at /docs; Ctrl+C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
