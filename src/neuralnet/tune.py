"""Hyper-parameter search with k-fold cross-validation, locally or on a Dask cluster.

The search itself is scikit-learn's (``GridSearchCV`` / ``RandomizedSearchCV`` over
``neuralnet.MLPClassifier``); where the fits run is joblib's business: its local
process pool by default, or a Dask cluster through joblib's Dask backend, which sends
the data set to the workers once (``scatter``) rather than with every task. Dask
reruns the tasks of a worker that dies, so losing a machine does not lose the search.

    from neuralnet.tune import SearchSpace, run_search
    space = SearchSpace.from_strings(["hidden=50,100", "lr=0.1,0.03", "epochs=5"])
    result = run_search(space, X, y, cv=3, scheduler="tcp://10.0.0.5:8786")
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .estimator import CONFIG_KEYS, estimator_params
from .runs.config import SETTINGS, ConfigError, canonical_key, check_value, parse_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["SEARCHABLE", "SearchSpace", "SearchResult", "run_search", "dask_client", "write_search_run", "TuneError"]

#: the configuration keys a search may vary: those the estimator takes (``CONFIG_KEYS``), the
#: patience of early stopping; not ``threads`` (every fit uses one BLAS thread) nor ``layers``
#: (a stack is not one value of a list: search over hidden sizes, or run one search per stack)
SEARCHABLE = tuple(key for key in SETTINGS if key in set(CONFIG_KEYS.values()) - {"threads", "layers"}) + (
    "early_stopping",
)


class TuneError(ValueError):
    """A search specification that cannot be run: the message names the value and what was expected."""


def _canonical(name: str) -> str:
    """The configuration key of a parameter name: the key itself, one of its command-line
    spellings (``learning_rate``), or the estimator's name for it (``max_iter``)."""
    text = str(name).strip().replace("-", "_")
    key = CONFIG_KEYS.get(text, text) if text != "n_iter_no_change" else "early_stopping"
    key = canonical_key(key, strict=False)
    if key not in SEARCHABLE:
        raise TuneError(f"unknown parameter {name!r}; expected one of {sorted(SEARCHABLE)}")
    return key


def _read_value(key: str, value):
    """One value of ``key`` from a string (command line) or a TOML value, checked by the
    configuration vocabulary."""
    try:
        return parse_value(key, value) if isinstance(value, str) else check_value(key, value)
    except ConfigError as error:
        raise TuneError(str(error)) from None


#: an estimator parameter -> the configuration key it comes from
_CONFIG_NAME = {**{name: key for name, key in CONFIG_KEYS.items()}, "n_iter_no_change": "early_stopping"}


def _unique(values: list) -> list:
    """``values`` without repeats, in order (lists compared by value)."""
    kept: list = []
    for value in values:
        if value not in kept:
            kept.append(value)
    return kept


def _plain_value(value):
    """A value as it appears in tables and JSON: hidden sizes as 512x256."""
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass
class SearchSpace:
    """What to search: the values of the parameters, the kind of search, the folds and the data set.

    Parameters
    ----------
    grid : dict of str to list
        A list of values per parameter (a single value is simply fixed), by configuration key,
        one of its command-line spellings or the estimator's name for it; the values are
        checked by the configuration vocabulary.
    search : {"grid", "random"}
        Every combination, or ``n_iter`` random ones.
    n_iter : int
        Candidates of a random search (>= 1).
    cv : int
        Cross-validation folds (>= 2).
    seed : int
        Seed of the folds, the random search and the networks.
    dataset : str
        The data set searched on.
    limit : int or None
        A stratified subset of that many examples (None: all).

    Raises
    ------
    TuneError
        For an unknown parameter, a value it does not accept, or an invalid option.
    """

    grid: dict[str, list] = field(default_factory=dict)
    search: str = "grid"
    n_iter: int = 10
    cv: int = 3
    seed: int = 123
    dataset: str = "mnist"
    limit: int | None = None

    def __post_init__(self):
        if self.search not in ("grid", "random"):
            raise TuneError(f"search={self.search!r}: expected 'grid' or 'random'")
        for key, bound in (("n_iter", 1), ("cv", 2)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < bound:
                raise TuneError(f"{key}={value!r}: expected an integer >= {bound}")
        grid: dict[str, list] = {}
        for name, values in self.grid.items():
            key = _canonical(name)
            values = values if isinstance(values, list) else [values]
            if not values:
                raise TuneError(f"{name}: give at least one value")
            # "lr" and "learning_rate" (or a name given twice) add to each other's values
            grid.setdefault(key, []).extend(_read_value(key, v) for v in values)
        # a value given twice would only make the same candidate twice
        self.grid = {key: _unique(values) for key, values in grid.items()}

    @classmethod
    def from_strings(cls, params: list[str], **options) -> SearchSpace:
        """From ``["hidden=50,100,200", "lr=0.1,0.03"]`` as ``--param`` gives them."""
        grid: dict[str, list] = {}
        for text in params:
            name, sep, values = text.partition("=")
            if not sep or not values.strip():
                raise TuneError(f"--param {text!r}: expected NAME=VALUE[,VALUE...], e.g. lr=0.1,0.03")
            grid.setdefault(_canonical(name), []).extend(v for v in values.split(",") if v.strip())
        return cls(grid=grid, **options)

    @classmethod
    def from_toml(cls, path: str | Path) -> SearchSpace:
        """A TOML file with the parameters under ``[grid]`` (lists of values) and the options
        (search, n_iter, cv, seed, dataset, limit) at the top level."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise TuneError(f"search file {path} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise TuneError(f"{path} is not valid TOML: {error}") from None
        grid = data.pop("grid", {})
        if not isinstance(grid, dict):
            raise TuneError(f"{path}: grid = {grid!r}; expected a [grid] table of parameters and their values")
        unknown = sorted(set(data) - {"search", "n_iter", "cv", "seed", "dataset", "limit"})
        if unknown:
            raise TuneError(f"{path}: unknown keys {unknown}; parameters go under [grid]")
        return cls(grid=grid, **data)

    def searched(self) -> dict[str, list]:
        """The configuration keys searched (more than one value) and their values."""
        return {k: v for k, v in self.grid.items() if len(v) > 1}

    def estimator_grid(self) -> dict[str, list]:
        """The parameters searched, by the estimator's names (early stopping's patience is
        ``n_iter_no_change``, with ``early_stopping=True`` among the fixed parameters)."""
        grid = {}
        for key, values in self.searched().items():
            if key == "early_stopping":
                grid["n_iter_no_change"] = values
            else:
                ((name, _),) = estimator_params({key: values[0]}).items()
                grid[name] = [estimator_params({key: v})[name] for v in values]
        return grid

    def fixed(self) -> dict:
        """The parameters with one value, by the estimator's names."""
        fixed = estimator_params({k: v[0] for k, v in self.grid.items() if len(v) == 1})
        if "early_stopping" in self.searched():
            fixed["early_stopping"] = True
        return fixed

    def check_searchable(self) -> None:
        """TuneError unless at least one parameter has two or more values."""
        if not self.searched():
            fixed = ", ".join(f"{k}={_plain_value(v[0])}" for k, v in self.grid.items()) or "none"
            raise TuneError(
                f"nothing to search: every parameter has a single value ({fixed}); give at least "
                "one parameter two or more values, e.g. --param lr=0.1,0.03"
            )

    def n_candidates(self) -> int:
        """The number of candidates: the combinations of the searched values (at most ``n_iter`` if random)."""
        total = math.prod(len(v) for v in self.searched().values())
        return min(total, self.n_iter) if self.search == "random" else total


@dataclass
class SearchResult:
    """The search's table of candidates, the best parameters and the refitted best model.

    Attributes
    ----------
    space : SearchSpace
        What was searched.
    cv_results : dict
        scikit-learn's ``cv_results_``.
    best_params : dict
        The best candidate's parameters, by the estimator's names.
    best_score : float
        Its mean cross-validation accuracy.
    best_estimator : estimator
        The best candidate refitted on all the data: an ``MLPClassifier``, unless
        ``run_search`` was given another estimator.
    refit_seconds : float
        How long the refit took (the whole search's time where scikit-learn does not say).
    """

    space: SearchSpace
    cv_results: dict
    best_params: dict
    best_score: float
    best_estimator: Any  # an MLPClassifier, or the estimator given to run_search
    refit_seconds: float

    def table(self) -> list[dict]:
        """One row per candidate: its parameters, mean and spread of the score, fit time, rank."""
        rows = []
        results = self.cv_results
        for i, params in enumerate(results["params"]):
            rows.append(
                {
                    **{_CONFIG_NAME.get(k, k): _plain_value(v) for k, v in params.items()},
                    "mean_score": float(results["mean_test_score"][i]),
                    "std_score": float(results["std_test_score"][i]),
                    "mean_fit_seconds": float(results["mean_fit_time"][i]),
                    "std_fit_seconds": float(results["std_fit_time"][i]),
                    "rank": int(results["rank_test_score"][i]),
                }
            )
        return sorted(rows, key=lambda row: row["rank"])


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, threads_per_worker: int = 1):
    """A Dask client: connected to ``scheduler`` (e.g. tcp://host:8786), or to a local cluster of
    ``workers`` processes started here and shut down afterwards."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout="30s")
        try:
            yield client
        finally:
            client.close()
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _folds(space: SearchSpace, y: np.ndarray) -> list[tuple[list, list]]:
    """Stratified k-fold splits, as lists of indices.

    Lists, not arrays, on purpose: joblib's Dask backend sends large NumPy arguments to one
    worker ahead of the tasks, and if that worker dies its tasks can no longer run
    ('cancelled ... already forgotten'); lists travel inside each task, so Dask can rerun
    any task anywhere. X and y themselves are copied to every worker (``scatter``).
    """
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=space.cv, shuffle=True, random_state=space.seed)
    return [(train.tolist(), test.tolist()) for train, test in folds.split(np.zeros(len(y)), y)]


def _search_object(space: SearchSpace, estimator, y, n_jobs, verbose):
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    space.check_searchable()
    grid = space.estimator_grid()
    common = dict(
        scoring="accuracy", cv=_folds(space, y), n_jobs=n_jobs, refit=True, verbose=verbose, error_score="raise"
    )
    if space.search == "grid":
        return GridSearchCV(estimator, grid, **common)
    return RandomizedSearchCV(estimator, grid, n_iter=space.n_iter, random_state=space.seed, **common)


@contextmanager
def fit_progress(total: int, enabled: bool | None = True):
    """A progress bar of a search's ``total`` cross-validation fits (rate, time left) while the
    context lasts: joblib reports each finished batch of fits to ``Parallel.print_progress`` in
    this process, whichever backend (processes or Dask) ran them; the bar takes that report
    instead of joblib's printed lines."""
    from sklearn.utils import parallel as sklearn_parallel
    from tqdm.auto import tqdm

    if enabled is False:
        yield None
        return
    bar = tqdm(
        total=total,
        desc="Cross-validation fits",
        unit="fit",
        disable=None if enabled is None else False,
        dynamic_ncols=True,
    )
    original = sklearn_parallel.Parallel.print_progress

    def report(parallel):
        done = min(int(parallel.n_completed_tasks), total)
        if done > bar.n:
            bar.update(done - bar.n)

    sklearn_parallel.Parallel.print_progress = report
    try:
        yield bar
    finally:
        sklearn_parallel.Parallel.print_progress = original
        bar.close()


def run_search(
    space: SearchSpace,
    X: np.ndarray,
    y: np.ndarray,
    *,
    estimator=None,
    n_jobs: int | None = -1,
    scheduler: str | None = None,
    dask_workers: int | None = None,
    verbose: int = 1,
    progress: bool | None = False,
) -> SearchResult:
    """Cross-validate every candidate of ``space`` on (X, y), then refit the best on all of it.

    Each fit uses one BLAS thread, so that fits are reproducible wherever they run and
    processes do not oversubscribe the cores.

    Parameters
    ----------
    space : SearchSpace
        What to search (at least one parameter with two or more values).
    X : ndarray of shape [n_examples, n_features]
        The examples.
    y : ndarray of shape [n_examples]
        Their class labels (the folds are stratified by them).
    estimator : estimator or None
        The estimator searched over (None: an ``MLPClassifier`` with the space's fixed
        parameters, its seed and one thread).
    n_jobs : int or None
        Processes of joblib's local process pool, when the fits do not run on Dask.
    scheduler : str or None
        The address of a Dask scheduler to run the fits on.
    dask_workers : int or None
        A number of local Dask worker processes to run the fits on.
    verbose : int
        > 0 prints joblib's progress as fits complete.
    progress : bool or None
        Show a progress bar of the fits instead, with their rate and the time left (None: on a
        terminal only), for local and Dask fits alike.

    Returns
    -------
    SearchResult
        Every candidate's scores, the best parameters and the refitted best estimator.

    Raises
    ------
    TuneError
        If nothing is searched (every parameter has one value).
    """
    import time

    import joblib

    from .estimator import MLPClassifier

    if estimator is None:
        estimator = MLPClassifier(**{"random_state": space.seed, **space.fixed(), "threads": 1})
    if progress is None:  # a bar on a terminal, joblib's lines in a log
        import sys

        progress = sys.stderr.isatty()
    search = _search_object(space, estimator, y, n_jobs, 0 if progress else verbose)
    started = time.perf_counter()
    joblib_verbose = 10 * (verbose > 0 and not progress)
    with fit_progress(space.n_candidates() * space.cv, enabled=progress):
        if scheduler or dask_workers:
            with (
                dask_client(scheduler, dask_workers) as client,
                joblib.parallel_config(
                    backend="dask",
                    client=client,
                    scatter=[X, y],  # data sent once
                    verbose=joblib_verbose,
                ),
            ):
                search.fit(X, y)
        else:
            with joblib.parallel_config(verbose=joblib_verbose):
                search.fit(X, y)
    total = time.perf_counter() - started
    return SearchResult(
        space,
        search.cv_results_,
        search.best_params_,
        float(search.best_score_),
        search.best_estimator_,
        float(getattr(search, "refit_time_", total)),
    )


def _plot_scores(result: SearchResult, path: Path) -> Path:
    """Mean cross-validation score (with its spread over the folds) against each searched
    parameter: one panel per parameter, every candidate a point."""
    from matplotlib.figure import Figure

    searched = list(result.space.searched())
    rows = result.table()
    fig = Figure(figsize=(4.2 * len(searched), 3.6), layout="tight")
    axes = np.atleast_1d(fig.subplots(1, len(searched)))
    for ax, name in zip(axes, searched):
        levels = [_plain_value(v) for v in result.space.grid[name]]
        positions = {level: i for i, level in enumerate(levels)}
        xs = [positions[row[name]] for row in rows]
        ax.errorbar(
            xs,
            [r["mean_score"] * 100 for r in rows],
            yerr=[r["std_score"] * 100 for r in rows],
            fmt="o",
            alpha=0.7,
            capsize=3,
        )
        ax.set_xticks(range(len(levels)), [str(level) for level in levels])
        ax.set_xlabel(name)
        ax.set_ylabel("cross-validation accuracy (%)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _markdown_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            if column in ("mean_score", "std_score"):
                cells.append(f"{value * 100:.2f}%")
            elif isinstance(value, float):
                cells.append(f"{value:.3g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _class_labels(classes, dataset: str) -> list[str]:
    """The labels to save with the model: the data set's names for its integer labels
    ("Sandal", not "5", as `neuralnet train` saves them), or the labels as text when the
    search ran on other data (e.g. string labels)."""
    from .datasets import DATASETS

    names = DATASETS[dataset].class_names if dataset in DATASETS else None
    if names is not None and all(isinstance(c, (int, np.integer)) and 0 <= c < len(names) for c in classes):
        return [names[int(c)] for c in classes]
    return [str(c) for c in classes]


def write_search_run(
    result: SearchResult, out: str | Path, *, X_test=None, y_test=None, extra: dict | None = None
) -> Path:
    """Write a run folder: results.csv/.md (every candidate), search.json (the space, the best
    configuration), figures/scores.png, and the refitted best model (model.safetensors, the
    standard format) with its test accuracy when a test set is given."""
    import csv

    from .datasets.preprocessing import CHAPTER_PREPROCESSING
    from .runs.folders import RunFolder, create_run_folder
    from .serving.modelfile import save_model

    run = RunFolder(create_run_folder(out))
    rows = result.table()
    with open(run.file("results.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    run.file("results.md").write_text(_markdown_table(rows))
    _plot_scores(result, run.file("figures/scores.png"))

    best = result.best_estimator
    metrics = {"cv_accuracy": result.best_score, "refit_seconds": result.refit_seconds}
    if X_test is not None:
        metrics["test_acc"] = float(best.score(X_test, y_test))
        metrics["n_test"] = int(len(y_test))
    best_params = {_CONFIG_NAME.get(k, k): _plain_value(v) for k, v in result.best_params.items()}
    run.write_json(
        "search.json",
        {
            "grid": {k: [_plain_value(v) for v in values] for k, values in result.space.grid.items()},
            "search": result.space.search,
            "n_iter": result.space.n_iter,
            "cv": result.space.cv,
            "seed": result.space.seed,
            "dataset": result.space.dataset,
            "limit": result.space.limit,
            "candidates": len(rows),
            "best_params": best_params,
            "best_cv_accuracy": result.best_score,
            **(extra or {}),
        },
    )
    run.write_json("metrics.json", metrics)
    training = {
        k: v if isinstance(v, (bool, int, float, str, tuple, list, type(None))) else str(v)
        for k, v in best.get_params().items()
    }
    save_model(
        run.model_path,
        best.network_,
        classes=_class_labels(best.classes_, result.space.dataset),
        preprocessing=CHAPTER_PREPROCESSING,
        training=training,
        metrics=metrics,
    )
    return run.path
