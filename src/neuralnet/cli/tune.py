"""``neuralnet tune``: grid or random search with cross-validation, locally or on Dask."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..runs.config import CHAPTER_DATASETS
from .options import add_data_options

if TYPE_CHECKING:
    from ..tune import SearchSpace


def add_parser(subparsers) -> None:
    """Add the ``tune`` subcommand, its options and its ``run``, to the ``neuralnet`` parser's subparsers."""
    parser = subparsers.add_parser(
        "tune",
        help="hyper-parameter search with k-fold cross-validation (local or Dask)",
        description="Search hyper-parameters of the network by k-fold cross-validation on the "
        "training and validation images (60,000 for MNIST), with scikit-learn's "
        "GridSearchCV or RandomizedSearchCV over neuralnet.MLPClassifier. The fits run "
        "in parallel on this machine, or on a Dask cluster (--scheduler, --dask-workers). "
        "Writes a run folder <out>/<timestamp>/ with every candidate's mean and spread of "
        "accuracy and fit time (results.csv, results.md), the best configuration "
        "(search.json), a plot of accuracy against each parameter (figures/scores.png), "
        "and the best configuration refitted on all the training images "
        "(model.safetensors) with its test accuracy (metrics.json).",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="values to search for one parameter (repeat for several); one value fixes it. Names: "
        "hidden (e.g. 100 or 512x256), activation, loss, optimizer, lr, momentum, nesterov, betas "
        "(e.g. 0.9/0.999), eps, alpha, weight_decay, l1, max_grad_norm, dropout, schedule, "
        "plateau_patience, plateau_factor, warmup_epochs, epochs, batch_size, early_stopping, init, seed. "
        "Example: --param hidden=50,100,200 --param lr=0.1,0.03 --param epochs=10",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file: the parameters as lists under [grid], and search, n_iter, cv, "
        "seed, dataset, limit at the top level; --param adds to it",
    )
    parser.add_argument(
        "--search", choices=["grid", "random"], help="every combination (grid, the default) or --n-iter random ones"
    )
    parser.add_argument("--n-iter", type=int, help="candidates for a random search (default: 10)")
    parser.add_argument("--cv", type=int, help="number of cross-validation folds (default: 3)")
    parser.add_argument("--seed", type=int, help="seed of the folds, the random search and the networks (default: 123)")
    parser.add_argument("--dataset", choices=list(CHAPTER_DATASETS), help="data set (default: mnist)")
    parser.add_argument(
        "--limit", type=int, metavar="N", help="use a stratified subset of N images (>= 700) for a quick search"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the fits on the Dask cluster whose scheduler is at ADDRESS, e.g. "
        "tcp://10.0.0.5:8786 (its workers need neuralnet installed)",
    )
    where.add_argument(
        "--dask-workers", type=int, metavar="N", help="start a local Dask cluster of N worker processes for the search"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=-1, help="parallel fits on this machine without Dask (default: -1, one per core)"
    )
    add_data_options(parser)
    parser.add_argument(
        "--out",
        default="runs",
        metavar="DIR",
        help="folder in which the run folder <timestamp>/ is created (default: runs)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    parser.set_defaults(run=run)


def space_from_args(args: argparse.Namespace) -> SearchSpace:
    """The search space of the options: the ``--config`` file's, then ``--param`` and the other options.

    A parameter given with ``--param`` replaces the file's values for it.

    Raises
    ------
    TuneError
        If neither ``--param`` nor ``--config`` is given, or nothing is searched (every parameter
        has one value).
    """
    from ..tune import SearchSpace, TuneError

    options = {
        key: getattr(args, attr)
        for key, attr in (
            ("search", "search"),
            ("n_iter", "n_iter"),
            ("cv", "cv"),
            ("seed", "seed"),
            ("dataset", "dataset"),
            ("limit", "limit"),
        )
        if getattr(args, attr) is not None
    }
    if not args.config and not args.param:
        raise TuneError("give the parameters to search with --param NAME=V1,V2 (or --config FILE)")
    # every --param together first (repeating one adds values), by canonical names
    given = SearchSpace.from_strings(args.param).grid if args.param else {}
    if not args.config:
        space = SearchSpace(grid=given, **options)
    else:
        base = SearchSpace.from_toml(args.config)
        fields = {k: getattr(base, k) for k in ("search", "n_iter", "cv", "seed", "dataset", "limit")}
        # a parameter given on the command line replaces the file's values for it
        space = SearchSpace(grid={**base.grid, **given}, **{**fields, **options})
    space.check_searchable()
    return space


def run(args: argparse.Namespace) -> int:
    """Run the search, write its run folder and print its results; the exit status."""
    import json

    import numpy as np

    from ..datasets import load_chapter_data
    from ..tune import run_search, write_search_run

    space = space_from_args(args)
    data = load_chapter_data(space.dataset, data_dir=args.data_dir, limit=space.limit, download=args.download)
    # the search sees the training and validation images; the test images judge the winner
    X = np.concatenate([data.X_train, data.X_valid])
    y = np.concatenate([data.y_train, data.y_valid])
    where = (
        f"the Dask cluster at {args.scheduler}"
        if args.scheduler
        else f"a local Dask cluster of {args.dask_workers} workers"
        if args.dask_workers
        else "this machine"
    )
    if not args.quiet:
        candidates = space.n_candidates()
        print(
            f"Searching {candidates} candidate{'s' * (candidates != 1)} x {space.cv} folds = "
            f"{candidates * space.cv} fits on {len(y)} images, on {where}",
            flush=True,
        )
    result = run_search(
        space,
        X,
        y,
        n_jobs=args.n_jobs,
        scheduler=args.scheduler,
        dask_workers=args.dask_workers,
        verbose=0 if args.quiet else 1,
        progress=False if args.quiet else None,
    )
    path = write_search_run(
        result, args.out, X_test=data.X_test, y_test=data.y_test, extra={"where": where, "n_train": int(len(y))}
    )
    print((path / "results.md").read_text(), end="")
    metrics = json.loads((path / "metrics.json").read_text())
    best_params = json.loads((path / "search.json").read_text())["best_params"]
    best = ", ".join(f"{k}={v}" for k, v in best_params.items())
    print(
        f"Best: {best}: cross-validation accuracy {result.best_score * 100:.2f}%, "
        f"test accuracy {metrics['test_acc'] * 100:.2f}% after refitting on all {len(y)} images"
    )
    print(f"Run folder: {path}")
    return 0
