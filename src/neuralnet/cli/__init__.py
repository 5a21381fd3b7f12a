"""The ``neuralnet`` command: a thin layer that parses options and calls the library.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``; ``COMMANDS`` below is the table that ``main`` dispatches on.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from .. import __version__

__all__ = ["main", "build_parser", "COMMANDS"]

#: subcommand name -> module (in neuralnet.cli) that defines add_parser and run
COMMANDS = {
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "summary": "summary",
    "figures": "figures",
    "export": "export",
    "serve": "serve",
    "explain": "explain",
    "tune": "tune",
}


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The ``neuralnet`` argument parser, with every subcommand of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="neuralnet",
        description="Train, evaluate and inspect multilayer neural networks written from scratch "
        "in NumPy (the chapter's NeuralNetMLP and deeper networks).",
    )
    parser.add_argument("--version", action="version", version=f"neuralnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS.values():
        module = importlib.import_module(f".{module_name}", __name__)
        module.add_parser(subparsers)
    return parser


def _terminate(signum, frame):
    """SIGTERM as Ctrl-C: the run stops where it is, its files are left whole and the
    partial files of downloads are removed, as on Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the ``neuralnet`` command.

    Errors the user can act on (a ``UsageError``, a ``ValueError``, an ``OSError``...) are
    printed as one line, ``neuralnet COMMAND: error: ...``; SIGTERM is handled as Ctrl-C.

    Parameters
    ----------
    argv : list of str or None
        The arguments (None: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 for an error, 2 for a usage error, 130 when
        interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt as interruption:
        # a run that was training says where it stands and how to go on (TrainingInterrupted)
        print(f"neuralnet {args.command}: {interruption or 'interrupted'}", file=sys.stderr)
        return 130
    except (
        UsageError,
        ValueError,
        FileNotFoundError,
        FileExistsError,
        PermissionError,
        FloatingPointError,
        OSError,
    ) as error:
        print(f"neuralnet {args.command}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
