"""One training run from start to finish: data, network, training, test, run folder.

This is what ``neuralnet train`` does, as a library call::

    from neuralnet.runs import TrainingConfig, train_run
    result = train_run(TrainingConfig(epochs=5, limit=7000), data_dir="../shared/data")
    print(result.metrics["test_acc"], result.path)

If a run is interrupted (a crash, SIGKILL, a full disk), ``resume_run("runs/<its folder>")``
continues it from the checkpoint of its last finished epoch; ``continue_run("runs/<its folder>",
epochs=80)`` trains a finished run on to more epochs, in a new run folder.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..datasets.split import DataSplit
from ..datasets.toy import TOY_DATASETS
from ..engine.network import Network
from ..serving.files import DiskFullError
from ..serving.modelfile import MODEL_FILENAME, load_model, save_model
from ..training.callbacks import Callback, EarlyStopping, PredictionRecorder
from ..training.checkpoints import (
    CHECKPOINT_FILENAME,
    Checkpoint,
    Checkpointer,
    CheckpointError,
    load_checkpoint,
    restore_checkpoint,
)
from ..training.data import prepare_targets
from ..training.history import History, format_chapter_line
from ..training.metrics import confusion_matrix, evaluate
from ..training.trainer import TrainingDiverged
from .builder import build, build_network, input_shape
from .config import ConfigError, TrainingConfig
from .data import load_data
from .figures import decision_grid, draw_figures
from .folders import RunFolder, RunFolderError, create_run_folder

__all__ = [
    "RunResult",
    "TrainingInterrupted",
    "load_data",
    "train_run",
    "resume_run",
    "continue_run",
    "evaluate_run",
    "test_metrics",
    "data_fingerprint",
]


@dataclass
class RunResult:
    """What a finished run gives back.

    Attributes
    ----------
    path : Path
        The run folder.
    network : Network
        The trained network.
    history : History
        One row per epoch.
    metrics : dict
        The test metrics and timings, as ``metrics.json`` holds them.
    resumed_after_epoch : int or None
        For a resumed (or continued) run, the epoch of the checkpoint it started from.
    """

    path: Path
    network: Network
    history: History
    metrics: dict
    resumed_after_epoch: int | None = None  # the checkpoint's epoch, for a resumed run


def is_regression(config: TrainingConfig) -> bool:
    """Whether ``config`` trains a regression (numeric targets), not a classifier."""
    return config.task == "regression"


def test_metrics(network: Network, data: DataSplit, regression: bool = False, progress: bool = False) -> dict:
    """The metrics of ``network`` on the test part of ``data``.

    Parameters
    ----------
    network : Network
        The trained network.
    data : DataSplit
        The data; only ``X_test``, ``y_test`` (and for a regression ``targets``) are used.
    regression : bool
        Measure a regression (targets [n, k]) rather than a classifier (class indices [n]).
    progress : bool
        Show a progress bar of the evaluation.

    Returns
    -------
    dict
        For a classifier ``test_acc``, ``test_loss``, ``test_mse``, ``confusion_matrix`` (of the
        predictions, as nested lists) and ``n_test``; for a regression ``test_loss``, and
        ``test_mse`` and ``test_r2`` in the targets' own units, and ``n_test``.
    """
    Y_test, labels = prepare_targets(network, data.y_test)
    metrics = evaluate(network, data.X_test, Y_test, labels, progress=progress)
    if regression:
        predicted, true = regression_values(network, data)
        from sklearn.metrics import r2_score

        return {
            "test_loss": metrics["loss"],
            "test_mse": float(np.mean((predicted - true) ** 2)),
            "test_r2": float(r2_score(true, predicted)),
            "n_test": int(len(true)),
        }
    predictions = network.predict(data.X_test)
    assert labels is not None  # a classifier's y_test are class indices [n], which give labels
    return {
        "test_acc": metrics["acc"],
        "test_loss": metrics["loss"],
        "test_mse": metrics["mse"],
        "confusion_matrix": confusion_matrix(labels, predictions, network.n_outputs).tolist(),
        "n_test": int(len(labels)),
    }


def regression_values(network: Network, data: DataSplit) -> tuple[np.ndarray, np.ndarray]:
    """A regression's predictions and true targets on the test part, in the targets' own units.

    Parameters
    ----------
    network : Network
        The trained network.
    data : DataSplit
        A regression's data (its ``targets`` hold the scaling of the targets).

    Returns
    -------
    predicted : ndarray of shape [n_test, n_targets]
        The network's predictions, float64.
    true : ndarray of shape [n_test, n_targets]
        The true targets, float64.
    """
    assert data.targets is not None  # a regression's split records the scaling of its targets
    mean, std = np.asarray(data.targets["mean"]), np.asarray(data.targets["std"])
    predicted = network.predict_output(data.X_test).astype(np.float64) * std + mean
    true = np.asarray(data.y_test, np.float64).reshape(len(predicted), -1) * std + mean
    return predicted, true


#: the run folder's sub-folder of TensorBoard event files (``neuralnet train --tensorboard``)
TENSORBOARD_FOLDER = "tensorboard"


class _HistoryWriter(Callback):
    """Writes history.csv, history.json and log.txt after every epoch (each file atomically), so
    that a run that crashes or is killed keeps the epochs it finished."""

    def __init__(self, run: RunFolder, log_lines: list[str]):
        self.run, self.log_lines = run, log_lines

    def on_epoch_end(self, trainer, row):
        self.run.write_history(trainer.history)
        self.run.write_text("log.txt", "\n".join(self.log_lines) + "\n")
        return False


def describe_data(data: DataSplit, regression: bool = False) -> str:
    """One line: where the data came from, the sizes of the three parts, the classes or targets."""
    assert data.class_names is not None  # load_data names the classes (or targets) of every split
    what = (
        f"regression of {', '.join(map(str, data.class_names))}"
        if regression
        else f"{len(data.class_names)} classes: "
        + ", ".join(map(str, data.class_names[:12]))
        + (", ..." if len(data.class_names) > 12 else "")
    )
    return (
        f"Data: {data.source}: {len(data.X_train)} training, {len(data.X_valid)} validation, "
        f"{len(data.X_test)} test examples, {what}"
    )


def _log_line(row: dict, epochs: int, regression: bool) -> str:
    """The chapter's line, or for a regression its MSEs (there is no accuracy)."""
    if not regression:
        return format_chapter_line(row, epochs)
    return (
        f"Epoch: {row['epoch']:03d}/{epochs:03d} | Train MSE: {row['train_mse']:.4f} | "
        f"Valid MSE: {row['valid_mse']:.4f}"
    )


def data_fingerprint(data: DataSplit) -> dict:
    """Sizes and hashes that identify a data split.

    A checkpoint records them so that a run is never resumed on other data.

    Parameters
    ----------
    data : DataSplit
        The split.

    Returns
    -------
    dict
        ``n_train``, ``n_valid``, ``n_test``, and the SHA-256 of every label
        (``labels_sha256``) and of a sample of the training examples
        (``images_sample_sha256``).
    """
    labels = hashlib.sha256()
    for part in (data.y_train, data.y_valid, data.y_test):  # class indices, or a regression's targets
        part = np.asarray(part)
        labels.update(np.ascontiguousarray(part, dtype=np.int64 if part.dtype.kind in "iu" else part.dtype).tobytes())
    step = max(1, data.X_train.shape[0] // 64)
    sample = hashlib.sha256(np.ascontiguousarray(data.X_train[::step]).tobytes())
    return {
        "n_train": int(len(data.y_train)),
        "n_valid": int(len(data.y_valid)),
        "n_test": int(len(data.y_test)),
        "labels_sha256": labels.hexdigest(),
        "images_sample_sha256": sample.hexdigest(),
    }


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, which the command line turns into it) while a run trained: the run
    folder keeps the checkpoint of the last finished epoch, if there is one."""

    def __init__(self, path: Path, epoch: int | None):
        super().__init__(str(path), epoch)
        self.path, self.epoch = Path(path), epoch

    def __str__(self) -> str:
        if self.epoch:
            return (
                f"interrupted after epoch {self.epoch} (its checkpoint is in {self.path}); "
                f"`neuralnet train --resume {self.path}` continues the run"
            )
        return (
            f"interrupted before the first checkpoint was written; {self.path} holds only the run's "
            "configuration, so start again with `neuralnet train`"
        )


def _writable_folder(path: Path, what: str) -> None:
    """Refuse, before any work, a target whose folder cannot be written: the nearest existing
    folder on the way to ``path`` must take a new file (tried with a temporary file)."""
    import tempfile

    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"{what} {path}: {folder} is a file, so no folder can be made there")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise PermissionError(
            f"{what} {path} cannot be written: {folder} does not take new files "
            f"({error.strerror or error}); choose another place"
        ) from None


def _check_model_out(model_out, overwrite: bool) -> Path | None:
    """Refuse, before any work, a --model-out that is a folder, that would replace a file the user
    did not ask to replace, or whose folder cannot be written."""
    if model_out is None:
        return None
    model_out = Path(model_out)
    if model_out.is_dir():
        raise IsADirectoryError(f"--model-out {model_out} is a folder; expected a file name such as model.safetensors")
    if model_out.exists() and not overwrite:
        raise FileExistsError(
            f"{model_out} already exists; refusing to overwrite it (add --overwrite, or overwrite=True, to replace it)"
        )
    _writable_folder(model_out, "--model-out")
    return model_out


def _check_fits(config: TrainingConfig, data: DataSplit) -> None:
    """What the configuration asks of the data, checked before a run folder exists."""
    assert data.class_names is not None  # load_data names the classes (or targets) of every split
    if is_regression(config) and data.targets is None:
        raise ConfigError(
            f"task = 'regression' is invalid: {data.source or config.dataset} has classes, not numeric "
            "targets (give data, a CSV or .npz file with a numeric target)",
            ("task",),
        )
    if config.batch_size > len(data.y_train):
        raise ConfigError(
            f"batch_size = {config.batch_size} is invalid: expected at most the {len(data.y_train)} "
            "training examples of this split",
            ("batch_size",),
        )
    # and the network: a stack whose shapes do not fit the data is refused here, naming the layer
    build_network(config, input_shape(config, data.X_train.shape[1:], data.image_shape), len(data.class_names))


def train_run(
    config: TrainingConfig,
    data_dir=None,
    out: str | Path = "runs",
    *,
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    figures: bool = True,
    download: bool = True,
    model_out: str | Path | None = None,
    overwrite: bool = False,
    tensorboard: bool = False,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train ``config`` on its data set and write a new run folder under ``out``.

    The run folder gets a checkpoint at the end of every epoch (``resume_run`` continues
    from it) and ``model.safetensors`` last, once everything else is written.

    Parameters
    ----------
    config : TrainingConfig
        What to train, on which data.
    data_dir : str or Path or None
        The folder of the MNIST / Fashion-MNIST files (None: the default data folders).
    out : str or Path
        The folder in which the run folder is made.
    log : callable or None
        Called with each line of the training log (None: silent).
    progress : bool or None
        Show a progress bar (None: on a terminal only).
    figures : bool
        Draw the run's figures.
    download : bool
        Download MNIST / Fashion-MNIST files that are missing.
    model_out : str or Path or None
        Also write the model there.
    overwrite : bool
        Let ``model_out`` replace an existing file (without it, an existing file is refused).
    tensorboard : bool
        Also write TensorBoard logs to the run's ``tensorboard/`` folder (needs tensorboardX).
    callbacks : sequence of Callback
        More training callbacks, e.g. to watch the run (``web.training`` reports to the page
        with one); a callback with a ``run_folder`` attribute gets the run folder's path
        before training starts.

    Returns
    -------
    RunResult
        The run folder, the trained network, its history and the test metrics.

    Raises
    ------
    TrainingDiverged
        If the loss becomes NaN or infinite (naming epoch and batch); the checkpoint of the
        last good epoch is then kept in the run folder.
    TrainingInterrupted
        On Ctrl-C (or SIGTERM turned into it), saying where the run stands.
    """
    config.validate()
    if tensorboard:
        from ..training.tensorboard import require_tensorboard

        require_tensorboard()  # before any folder exists
    model_out = _check_model_out(model_out, overwrite)
    data = load_data(config, data_dir, download)
    _check_fits(config, data)
    run = _new_run_folder(out, config, data_dir, data)
    with run.lock():
        return _train(
            run,
            config,
            data,
            None,
            log=log,
            progress=progress,
            figures=figures,
            tensorboard=tensorboard,
            model_out=model_out,
            overwrite=overwrite,
            extra_callbacks=callbacks,
        )


def _new_run_folder(out, config: TrainingConfig, data_dir, data: DataSplit, **extra) -> RunFolder:
    """A new folder under ``out`` with the run's config.json (configuration, data, versions)."""
    run = RunFolder(create_run_folder(out))
    try:
        # absolute, so that --resume and --continue find the data from any working directory
        run.write_config(
            config,
            data_dir=str(Path(data_dir).resolve()) if data_dir else None,
            neuralnet_version=__version__,
            python=sys.version.split()[0],
            numpy=np.__version__,
            platform=platform.platform(),
            sizes={"train": len(data.y_train), "valid": len(data.y_valid), "test": len(data.y_test)},
            **extra,
        )
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)  # a folder that holds nothing yet
        raise
    return run


def resume_run(
    path: str | Path,
    data_dir=None,
    *,
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    figures: bool = True,
    download: bool = True,
    model_out: str | Path | None = None,
    overwrite: bool = False,
    tensorboard: bool = False,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Continue the interrupted run in folder ``path`` from its checkpoint.

    The run goes on with its own configuration and data; the result is bit for bit that of an
    uninterrupted run.

    Parameters
    ----------
    path : str or Path
        The run folder.
    data_dir : str or Path or None
        The folder of the data files (None: the one the run's ``config.json`` names).
    log, progress, figures, download, model_out, overwrite, tensorboard, callbacks
        As in ``train_run``.

    Returns
    -------
    RunResult
        The finished run; ``resumed_after_epoch`` is the checkpoint's epoch.

    Raises
    ------
    FileExistsError
        For a run that finished (it has its model file).
    FileNotFoundError
        For a run without a checkpoint.
    CheckpointError
        For a checkpoint written with another configuration or on other data than the run's.
    """
    run = RunFolder(path).require()
    info = run.info()
    _refuse_finished(run)
    checkpoint_path = run.file(CHECKPOINT_FILENAME)
    if not checkpoint_path.exists():
        source = info.continued_from
        again = (
            f"continue {source} again with `neuralnet train --continue {source} --epochs {info.config.epochs}`"
            if source
            else "start it again with `neuralnet train`"
        )
        raise FileNotFoundError(
            f"{run.path} has no {CHECKPOINT_FILENAME}: the run stopped before its first "
            f"checkpoint was written, so there is nothing to resume; {again}"
        )
    checkpoint, config = _run_checkpoint(run)
    model_out = _check_model_out(model_out, overwrite)
    data, _ = _load_data_of(run, checkpoint, config, data_dir, download)
    # every check passed without touching the folder; now it is this process's until it is done
    with run.lock():
        _refuse_finished(run)  # another process may have finished it meanwhile
        checkpoint, _ = _run_checkpoint(run)  # or trained it on: its latest checkpoint
        for stale in run.path.glob(f".{CHECKPOINT_FILENAME}.*.tmp"):  # a write the interruption cut short
            stale.unlink(missing_ok=True)
        if log is not None:
            log(f"Resuming {run.path} after epoch {checkpoint.epoch}/{config.epochs} (from {CHECKPOINT_FILENAME})")
        return _train(
            run,
            config,
            data,
            checkpoint,
            log=log,
            progress=progress,
            figures=figures,
            tensorboard=tensorboard,
            model_out=model_out,
            overwrite=overwrite,
            extra_callbacks=callbacks,
        )


def continue_run(
    path: str | Path,
    epochs: int,
    data_dir=None,
    out: str | Path = "runs",
    *,
    log: Callable[[str], None] | None = print,
    progress: bool | None = None,
    figures: bool = True,
    download: bool = True,
    model_out: str | Path | None = None,
    overwrite: bool = False,
    tensorboard: bool = False,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train the finished run in folder ``path`` on to ``epochs`` epochs, in a new run folder.

    Training goes on from the checkpoint of the run's last epoch; the finished run is left as
    it is. The new run's history starts with the finished run's epochs. With the constant,
    step or exponential schedule (their learning rate depends on the epoch alone) the result
    is bit for bit that of a run of ``epochs`` epochs from the start.

    Parameters
    ----------
    path : str or Path
        The finished run folder.
    epochs : int
        The total number of epochs to train to, above the epochs the run has trained.
    data_dir : str or Path or None
        The folder of the data files (None: the one the run's ``config.json`` names).
    out : str or Path
        The folder in which the new run folder is made (not inside ``path``).
    log, progress, figures, download, model_out, overwrite, tensorboard, callbacks
        As in ``train_run`` (``model_out`` not inside ``path``).

    Returns
    -------
    RunResult
        The new run; ``resumed_after_epoch`` is the epoch it continued from.

    Raises
    ------
    FileNotFoundError
        For a run that has not finished (resume it) or has no checkpoint.
    ValueError
        For ``epochs`` not above the epochs the run has trained, a run that stopped early,
        the cosine schedule (its learning rate reaches its minimum at the run's last epoch,
        wherever that is), or ``out`` or ``model_out`` inside ``path``.
    """
    source = RunFolder(path).require()
    if not source.model_path.exists():
        raise FileNotFoundError(
            f"{source.path} has not finished training (it has no {MODEL_FILENAME}); resume "
            "it with `neuralnet train --resume` first"
        )
    if not source.file(CHECKPOINT_FILENAME).exists():
        raise FileNotFoundError(f"{source.path} has no {CHECKPOINT_FILENAME} to continue from")
    checkpoint, config = _run_checkpoint(source)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs <= checkpoint.epoch:
        raise ValueError(
            f"epochs must be a whole number above the {checkpoint.epoch} epochs {source.path} has "
            f"trained, got {epochs!r}"
        )
    stopped = (checkpoint.callbacks.get("early_stopping") or {}).get("stopped_epoch")
    if stopped is not None:
        raise ValueError(
            f"{source.path} stopped early at epoch {stopped} (its validation metric had stopped "
            "improving); there is nothing to continue. Start a new run with `neuralnet train`."
        )
    if config.schedule == "cosine":
        raise ValueError(
            f"{source.path} uses the cosine schedule, whose learning rate depends on the total "
            f"number of epochs ({config.epochs}); continuing it would not be a longer cosine run. "
            f"Start a new run with `neuralnet train --epochs {epochs}`."
        )
    for what, target in (("out", out), ("model_out", model_out)):
        if target is not None and Path(target).resolve().is_relative_to(source.path.resolve()):
            raise ValueError(
                f"{what} {target} is inside {source.path}, which continuing leaves as it is; choose a place outside it"
            )
    model_out = _check_model_out(model_out, overwrite)
    data, data_dir = _load_data_of(source, checkpoint, config, data_dir, download)
    longer = TrainingConfig.from_dict({**config.to_dict(), "epochs": int(epochs)})
    run = _new_run_folder(out, longer, data_dir, data, continued_from=str(source.path))
    if log is not None:
        log(f"Continuing {source.path} after epoch {checkpoint.epoch} to {epochs} epochs in {run.path}")
    with run.lock():
        return _train(
            run,
            longer,
            data,
            checkpoint,
            log=log,
            progress=progress,
            figures=figures,
            tensorboard=tensorboard,
            model_out=model_out,
            overwrite=overwrite,
            origin="continued",
            extra_callbacks=callbacks,
        )


def _refuse_finished(run: RunFolder) -> None:
    if run.model_path.exists():
        raise FileExistsError(
            f"{run.path} finished training already (it holds {MODEL_FILENAME}); nothing to "
            "resume. Start a new run with `neuralnet train`, or train this one on to more "
            "epochs with `neuralnet train --continue`."
        )


def _run_checkpoint(run: RunFolder) -> tuple[Checkpoint, TrainingConfig]:
    """The run's checkpoint and configuration, refused if they do not belong together."""
    checkpoint_path = run.file(CHECKPOINT_FILENAME)
    checkpoint = load_checkpoint(checkpoint_path)
    config = run.config()
    # both through TrainingConfig, so that a setting added since the checkpoint was written
    # (absent from it) takes its default on both sides, as it does in the run's config.json
    try:
        checkpoint_config = TrainingConfig.from_dict(checkpoint.config).to_dict()
    except (ConfigError, TypeError) as error:
        raise CheckpointError(f"{checkpoint_path} holds a configuration neuralnet cannot read: {error}") from None
    run_config = config.to_dict()
    if checkpoint_config != run_config:
        different = sorted(key for key, value in run_config.items() if checkpoint_config.get(key) != value)
        raise CheckpointError(
            f"{checkpoint_path} was written with another configuration than "
            f"{run.file('config.json')} (they differ in {different})"
        )
    return checkpoint, config


def _load_data_of(
    run: RunFolder, checkpoint: Checkpoint, config: TrainingConfig, data_dir, download: bool
) -> tuple[DataSplit, str | Path | None]:
    """The run's data (from ``data_dir``, else the folder its config.json names) and that
    folder; refused if they are not the data its checkpoint was trained on."""
    if data_dir is None:
        data_dir = run.info().data_dir
    data = load_data(config, data_dir, download)
    if checkpoint.data and checkpoint.data != data_fingerprint(data):
        raise CheckpointError(
            f"the data found now ({data_dir or 'the default data folders'}) differ from the data "
            f"{run.path} was trained on; use the same data files"
        )
    return data, data_dir


def _train(
    run: RunFolder,
    config: TrainingConfig,
    data: DataSplit,
    checkpoint: Checkpoint | None,
    *,
    log,
    progress,
    figures,
    model_out,
    overwrite,
    origin: str = "resumed",
    tensorboard: bool = False,
    extra_callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train (from scratch, or on from ``checkpoint``: ``origin`` "resumed" or "continued")
    and write the rest of the run folder; ``extra_callbacks`` train along (the caller's)."""
    for callback in extra_callbacks:
        if hasattr(callback, "run_folder"):
            callback.run_folder = run.path
    regression = is_regression(config)
    assert data.class_names is not None  # load_data names the classes (or targets) of every split
    n_outputs = len(data.class_names)
    setup = build(config, input_shape(config, data.X_train.shape[1:], data.image_shape), n_outputs)
    network, trainer, named = setup.network, setup.trainer, setup.callbacks
    checkpoint_path = run.file(CHECKPOINT_FILENAME)
    checkpointer = Checkpointer(checkpoint_path, config=config.to_dict(), data=data_fingerprint(data), callbacks=named)
    log_lines: list[str] = []

    def emit(line: str, echo: bool = True) -> None:
        log_lines.append(line)
        if log is not None and echo:
            log(line)

    if log is not None and checkpoint is None:  # on the screen only: log.txt stays the chapter's log
        log(network.summary())
    if config.data is not None or config.dataset in TOY_DATASETS:  # the chapter's log stays the chapter's
        emit(describe_data(data, regression))
    resumed_from = None
    if checkpoint is not None:
        restore_checkpoint(trainer, checkpoint, named, path=checkpoint_path)
        resumed_from = checkpoint.epoch
        for row in trainer.history.rows:  # the log of the epochs before the interruption
            emit(_log_line(row, config.epochs, regression))
    # 2-feature data: the predicted class on a grid after each epoch, for the decision boundary's animation
    recorder = (
        PredictionRecorder(decision_grid(data.X_train), every=max(1, config.epochs // 60))
        if figures and not regression and data.X_train.ndim == 2 and data.X_train.shape[1] == 2
        else None
    )
    stopped_early = any(getattr(callback, "stopped_epoch", None) is not None for callback in named.values())
    board = None
    if tensorboard:
        from ..training.tensorboard import TensorBoardLogger

        board = TensorBoardLogger(run.file(TENSORBOARD_FOLDER))
    started = time.perf_counter()
    try:
        if stopped_early:  # interrupted after early stopping had decided: only finish
            for callback in named.values():
                callback.on_train_end(trainer)
        else:
            trainer.fit(
                data.X_train,
                data.y_train,
                epochs=config.epochs,
                batch_size=config.batch_size,
                X_valid=data.X_valid,
                y_valid=data.y_valid,
                callbacks=[
                    *named.values(),
                    checkpointer,
                    _HistoryWriter(run, log_lines),
                    *([recorder] if recorder else []),
                    *extra_callbacks,
                    *([board] if board else []),
                ],
                progress=progress,
                threads=config.threads,
                log=lambda row: emit(_log_line(row, config.epochs, regression)),
            )
    except TrainingDiverged as error:
        checkpointer.on_train_end(trainer)  # the last good epoch's checkpoint is on disk
        good_epoch = checkpointer.saved_epoch or resumed_from
        note = (
            f"the checkpoint of the last good epoch ({good_epoch}) is kept in {checkpoint_path}"
            if good_epoch
            else "no epoch finished, so there is no checkpoint"
        )
        diverged = TrainingDiverged(error.epoch, error.batch, error.loss, error.lr, note=note, what=error.what)
        emit(str(diverged), echo=False)
        run.write_history(trainer.history)
        run.write_text("log.txt", "\n".join(log_lines) + "\n")
        raise diverged from None
    except KeyboardInterrupt:
        try:
            checkpointer.on_train_end(trainer)  # the write of the last finished epoch, if one is under way
        except OSError:
            pass
        good_epoch = checkpointer.saved_epoch or resumed_from
        interrupted = TrainingInterrupted(run.path, good_epoch)
        emit(str(interrupted), echo=False)
        _write_quietly(run, trainer.history, log_lines)
        raise interrupted from None
    except OSError as error:  # a checkpoint could not be written (a full disk, a lost folder...)
        good_epoch = checkpointer.saved_epoch or resumed_from
        raise _with_resume_hint(error, run, good_epoch) from None
    train_seconds = time.perf_counter() - started

    metrics = test_metrics(network, data, regression)
    metrics.update(train_seconds=train_seconds, epochs_run=len(trainer.history))
    if resumed_from is not None:
        metrics[f"{origin}_after_epoch"] = resumed_from
    stopper = named.get("early_stopping")  # build_callbacks makes an EarlyStopping by that name
    if isinstance(stopper, EarlyStopping) and stopper.stopped_epoch is not None:
        metrics.update(early_stopped_at=stopper.stopped_epoch, best_epoch=stopper.best_epoch)
        emit(
            f"Early stopping after epoch {stopper.stopped_epoch}: {stopper.monitor} has not improved for "
            f"{stopper.patience} epochs; the model keeps epoch {stopper.best_epoch}'s weights"
        )
    emit(
        f"Test R^2: {metrics['test_r2']:.4f} | Test MSE: {metrics['test_mse']:.6g}"
        if regression
        else f"Test accuracy: {metrics['test_acc'] * 100:.2f}%"
    )

    class_names = data.class_names
    model: dict[str, Any] = dict(
        classes=list(class_names),
        preprocessing=data.preprocessing,
        targets=data.targets,
        training=config.to_dict(),
        metrics={k: v for k, v in metrics.items() if k != "confusion_matrix"},
    )
    try:
        run.write_history(trainer.history)
        run.write_json("metrics.json", metrics)
        if figures:
            draw_figures(
                run,
                network,
                trainer.history,
                data,
                class_names,
                boundary_frames=recorder.frames if recorder else None,
                regression=regression,
                predictions=regression_values(network, data) if regression else None,
            )
        run.write_text("log.txt", "\n".join(log_lines) + "\n")
        if model_out is not None:
            save_model(model_out, network, overwrite=overwrite, **model)
        save_model(run.model_path, network, **model)  # last: a run with its model file is complete
    except OSError as error:
        raise _with_resume_hint(error, run, len(trainer.history), finishing=True) from None
    return RunResult(run.path, network, trainer.history, metrics, resumed_from)


def _write_quietly(run: RunFolder, history: History, log_lines: list[str]) -> None:
    """The history and log of an interrupted run, if the disk takes them."""
    try:
        run.write_history(history)
        run.write_text("log.txt", "\n".join(log_lines) + "\n")
    except OSError:
        pass


def _with_resume_hint(error: OSError, run: RunFolder, epoch: int | None, finishing: bool = False) -> OSError:
    """``error`` (of the same type) with what to do next: where the run stands and the command
    that takes it on from there."""
    if finishing:
        next_step = (
            f"training finished and its last checkpoint is in {run.path}: once the problem is fixed, "
            f"`neuralnet train --resume {run.path}` writes the rest without training again"
        )
    elif epoch:
        next_step = (
            f"{run.path} keeps the checkpoint of epoch {epoch}: once the problem is fixed, "
            f"`neuralnet train --resume {run.path}` continues from it"
        )
    else:
        next_step = f"no epoch was checkpointed in {run.path}; start again with `neuralnet train`"
    message = f"{error}; {next_step}"
    if isinstance(error, DiskFullError):
        hinted = DiskFullError(error.path, error.needed, error.free)
        hinted.strerror = message
        return hinted
    try:
        return type(error)(error.errno, message) if error.errno is not None else type(error)(message)
    except TypeError:
        return OSError(message)


def evaluate_run(path: str | Path, data_dir=None, download: bool = True, *, allow_other_data: bool = False) -> dict:
    """Reload a run's model and data split and measure it on the test set again.

    The data are checked against what the model was trained on first: the data set and subset
    its model file records, its class names, the shape of its inputs and (where the run kept a
    checkpoint) the fingerprint of the split it trained on.

    Parameters
    ----------
    path : str or Path
        The run folder.
    data_dir : str or Path or None
        The folder of the data files (None: the default data folders).
    download : bool
        Download MNIST / Fashion-MNIST files that are missing.
    allow_other_data : bool
        Measure the model even on data that differ from those it was trained on.

    Returns
    -------
    dict
        The test metrics (``test_metrics``); for a classifier also ``classes``, and with
        ``allow_other_data`` the ``data_mismatches`` found.

    Raises
    ------
    RunFolderError
        Naming the mismatch, for data that differ from those the model was trained on, unless
        ``allow_other_data``.
    """
    run = RunFolder(path).require()
    info = run.info()
    network, header = load_model(run.model_path)
    data = load_data(info.config, data_dir, download)
    problems = _data_mismatches(run, info.config, network, header, data)
    if problems and not allow_other_data:
        raise RunFolderError(
            f"the data do not look like those {run.path} was trained on: {'; '.join(problems)}. "
            "Use the run's own data (--data-dir), or --allow-other-data to measure it anyway"
        )
    metrics = test_metrics(network, data, is_regression(info.config), progress=True)
    if not is_regression(info.config):
        assert data.class_names is not None  # load_data names the classes of every split
        metrics["classes"] = [str(c) for c in header.get("classes", data.class_names)]
    if problems:
        metrics["data_mismatches"] = problems
    return metrics


def _data_mismatches(
    run: RunFolder, config: TrainingConfig, network: Network, header: dict, data: DataSplit
) -> list[str]:
    """How ``data`` (loaded for ``config``) differ from what the model of ``run`` was trained on."""
    assert data.class_names is not None  # load_data names the classes (or targets) of every split
    problems = []
    trained = header.get("training") or {}
    for key in ("dataset", "limit"):
        if key in trained and trained[key] != getattr(config, key):
            problems.append(
                f"config.json says {key} = {getattr(config, key)!r}, but the model was trained with "
                f"{key} = {trained[key]!r}"
            )
    names = [str(name) for name in data.class_names]
    if [str(c) for c in header.get("classes", [])] != names:
        problems.append(f"the model's classes {header.get('classes')} are not those of {config.dataset} {names}")
    if tuple(data.X_test.shape[1:]) != network.input_shape and data.X_test[0].size != network.n_features:
        problems.append(f"the images have shape {data.X_test.shape[1:]}, the model takes {network.input_shape}")
    checkpoint_path = run.file(CHECKPOINT_FILENAME)
    if checkpoint_path.exists():
        try:
            recorded = load_checkpoint(checkpoint_path).data
        except (CheckpointError, OSError):
            recorded = {}
        if recorded and recorded != data_fingerprint(data):
            problems.append(
                f"the split differs from the one the run trained on (its checkpoint records "
                f"{recorded.get('n_train')}/{recorded.get('n_valid')}/{recorded.get('n_test')} examples "
                f"and their hashes; these are {len(data.y_train)}/{len(data.y_valid)}/{len(data.y_test)})"
            )
    return problems
