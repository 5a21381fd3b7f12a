"""Options shared by several subcommands."""

from __future__ import annotations

import argparse


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--data-dir`` and ``--no-download`` (its ``download``) to ``parser``."""
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding mnist/ and fashion-mnist/ with the IDX files (or the four files "
        "themselves); default: $NEURALNET_DATA_DIR, then the per-user cache, then download",
    )
    parser.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="never download: fail with a message naming the missing files instead",
    )
