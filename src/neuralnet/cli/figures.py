"""``neuralnet figures RUN``: draw a run's figures again."""

from __future__ import annotations

import argparse

from .options import add_data_options


def add_parser(subparsers) -> None:
    """Add the ``figures`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "figures",
        help="draw the chapter's figures for a run again",
        description="Redraw the figures of a run folder into RUN/figures/: one digit per class "
        "(Figure 11.4), 25 variants of the digit 7 (11.5), the loss per epoch (11.7), the "
        "accuracies per epoch (11.8), the first 25 misclassified test images (11.9), the "
        "confusion matrix and the hidden units' weights.",
    )
    parser.add_argument("run_folder", metavar="RUN", help="a run folder written by `neuralnet train`")
    add_data_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Draw the figures of ``args.run_folder`` again, printing each file's path; the exit status."""
    from ..runs.data import load_data
    from ..runs.experiment import is_regression, regression_values
    from ..runs.figures import draw_figures
    from ..runs.folders import RunFolder
    from ..serving.modelfile import load_model

    run_folder = RunFolder(args.run_folder).require()
    config = run_folder.config()
    network, _ = load_model(run_folder.model_path)
    data = load_data(config, args.data_dir, args.download)
    regression = is_regression(config)
    for path in draw_figures(
        run_folder,
        network,
        run_folder.history(),
        data,
        data.class_names,
        regression=regression,
        predictions=regression_values(network, data) if regression else None,
    ):
        print(path)
    return 0
