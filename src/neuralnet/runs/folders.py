"""Run folders: where a training run keeps its configuration, history, model and figures.

    runs/20261125-163000/
        config.json        the TrainingConfig and where the data came from
        history.csv        one row per epoch (also history.json)
        metrics.json       test accuracy, loss and MSE, confusion matrix, timings
        model.safetensors  the weights and their JSON header (see neuralnet.serving.modelfile)
        checkpoint.safetensors  the state after the last finished epoch
        log.txt            the training log as printed
        figures/*.png      the chapter's figures and a confusion matrix
        .lock              held (flock) by the process that trains the run

A new run always gets a new folder; an existing folder is never written over. Every file is
written atomically, so a full disk or a crash leaves a file whole or absent, never cut short.
``RunFolder.info`` is the one reader of ``config.json``: whatever is wrong with it gives one
``RunFolderError`` saying so.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..serving.files import atomic_write_bytes
from ..training.history import History
from .config import ConfigError, TrainingConfig

__all__ = [
    "RunFolder",
    "RunInfo",
    "RunFolderError",
    "RunFolderInUse",
    "create_run_folder",
    "latest_run",
    "FIGURE_FILES",
]

FIGURE_FILES = {
    "digits_per_class": "figures/digits_per_class.png",  # Figure 11.4
    "digit_variants": "figures/digit_variants.png",  # Figure 11.5
    "loss": "figures/loss.png",  # Figure 11.7
    "accuracy": "figures/accuracy.png",  # Figure 11.8
    "misclassified": "figures/misclassified.png",  # Figure 11.9
    "confusion_matrix": "figures/confusion_matrix.png",
    "hidden_weights": "figures/hidden_weights.png",
    "filters": "figures/filters.png",  # a convolutional network's first filters
    "decision_boundary": "figures/decision_boundary.png",  # 2-feature data
    "decision_boundary_animation": "figures/decision_boundary.gif",
    "predictions": "figures/predictions.png",  # a regression: predicted against true
}
LOCK_FILENAME = ".lock"


class RunFolderError(ValueError):
    """A run folder whose files are missing, damaged or of the wrong shape, or that does not fit
    what is asked of it."""


class RunFolderInUse(RunFolderError):
    """Another process is training the run (it holds the folder's lock)."""


def create_run_folder(out: str | Path = "runs") -> Path:
    """Make ``<out>/<timestamp>/``, adding -2, -3 ... if that name is taken (never reusing one).

    Parameters
    ----------
    out : str or Path
        The folder of run folders (made if missing).

    Returns
    -------
    Path
        The new run folder, with its empty ``figures/``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(
            f"--out {out} is a file; expected a folder in which run folders are made (e.g. --out runs)"
        )
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        path = out / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / "figures").mkdir()
        return path
    raise FileExistsError(f"could not create a new run folder in {out}")


def latest_run(out: str | Path = "runs") -> Path:
    """The most recent training run in ``out`` that holds a model.

    Folders of ``neuralnet tune``, which hold a model but no training configuration, are not
    training runs.

    Parameters
    ----------
    out : str or Path
        The folder of run folders.

    Returns
    -------
    Path
        The run folder whose model file is the newest.

    Raises
    ------
    FileNotFoundError
        If ``out`` holds no trained run.
    """
    out = Path(out)
    candidates = sorted(
        (p for p in out.glob("*/model.safetensors") if RunFolder(p.parent).exists()), key=lambda p: p.stat().st_mtime
    )
    if not candidates:
        raise FileNotFoundError(f"no trained run in {out}/ (train one with `neuralnet train`)")
    return candidates[-1].parent


@dataclass
class RunInfo:
    """What ``config.json`` says of a run, checked.

    Attributes
    ----------
    config : TrainingConfig
        The run's configuration.
    data_dir : str or None
        The data folder the run was trained from.
    sizes : dict or None
        The numbers of training, validation and test examples (``train``, ``valid``,
        ``test``).
    continued_from : str or None
        For a continued run, the run it continues.
    extra : dict or None
        The other entries (versions, platform), as written.
    """

    config: TrainingConfig
    data_dir: str | None = None
    sizes: dict | None = None
    continued_from: str | None = None
    extra: dict | None = None  # the other entries (versions, platform), as written


class RunFolder:
    """Reads and writes the files of one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def exists(self) -> bool:
        """Whether the folder is a training run's (it has a ``config.json``)."""
        return (self.path / "config.json").is_file()

    def require(self) -> RunFolder:
        """This run folder, checked to exist and to be a training run's.

        Returns
        -------
        RunFolder
            self.

        Raises
        ------
        FileNotFoundError
            If the folder does not exist, or has no ``config.json`` (naming a ``neuralnet
            tune`` folder as such).
        """
        if not self.path.is_dir():
            raise FileNotFoundError(f"run folder {self.path} does not exist")
        if not self.exists():
            hint = ""
            if (self.path / "search.json").is_file():
                hint = (
                    "; it is a `neuralnet tune` folder: its model.safetensors loads with "
                    "neuralnet.load and exports with `neuralnet export`"
                )
            raise FileNotFoundError(f"{self.path} is not a training run folder (no config.json){hint}")
        return self

    # -- files ---------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """The path of the run's file ``name`` (e.g. "metrics.json"), existing or not."""
        return self.path / name

    def write_bytes(self, name: str, content: bytes) -> Path:
        """Write a file of the run atomically (replacing an older version of it)."""
        return atomic_write_bytes(self.file(name), content, overwrite=True)

    def write_text(self, name: str, text: str) -> Path:
        """Write a text file of the run atomically (UTF-8), replacing an older version of it."""
        return self.write_bytes(name, text.encode())

    def write_json(self, name: str, data) -> Path:
        """Write ``data`` as an indented JSON file of the run, atomically."""
        return self.write_text(name, json.dumps(data, indent=2, allow_nan=True) + "\n")

    def read_json(self, name: str):
        """The content of the run's JSON file ``name``.

        Raises
        ------
        FileNotFoundError
            If the file is missing.
        RunFolderError
            If it is not valid JSON.
        """
        path = self.file(name)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} is missing from the run folder") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunFolderError(f"{path} is not valid JSON: {error}") from None

    # -- typed accessors -----------------------------------------------------------------
    def write_config(self, config: TrainingConfig, **extra) -> Path:
        """Write ``config.json``: the configuration and the ``extra`` entries (data folder, versions...)."""
        return self.write_json("config.json", {"config": config.to_dict(), **extra})

    def info(self) -> RunInfo:
        """``config.json``, checked: an object with the run's configuration ("config"), the data
        folder ("data_dir", text or null), the sizes of the split ("sizes") and, for a continued
        run, the run it continues ("continued_from"). Anything else is a ``RunFolderError``."""
        path = self.file("config.json")
        document = self.read_json("config.json")

        def damaged(problem: str) -> RunFolderError:
            return RunFolderError(
                f"{path} is not a run's configuration: {problem} (was the file edited? `neuralnet train` writes it)"
            )

        if not isinstance(document, dict):
            raise damaged(f"expected a JSON object, got {type(document).__name__} {json.dumps(document)[:60]}")
        if not isinstance(document.get("config"), dict):
            raise damaged(f'expected "config": {{...the settings...}}, got keys {sorted(document)}')
        try:
            config = TrainingConfig.from_dict(document["config"])
        except (ConfigError, TypeError) as error:
            raise damaged(str(error)) from None
        for key, kinds in (("data_dir", str), ("continued_from", str), ("sizes", dict)):
            value = document.get(key)
            if value is not None and not isinstance(value, kinds):
                raise damaged(
                    f'"{key}" is {json.dumps(value)[:60]}; expected {"text" if kinds is str else "an object"} or null'
                )
        sizes = document.get("sizes")
        if sizes is not None and not all(isinstance(sizes.get(k), int) for k in ("train", "valid", "test")):
            raise damaged(f'"sizes" is {json.dumps(sizes)[:80]}; expected the numbers of train, valid, test examples')
        extra = {k: v for k, v in document.items() if k not in ("config", "data_dir", "sizes", "continued_from")}
        return RunInfo(config, document.get("data_dir"), sizes, document.get("continued_from"), extra)

    def config(self) -> TrainingConfig:
        """The run's configuration, from ``config.json`` (``info``)."""
        return self.info().config

    def write_history(self, history: History) -> None:
        """Write the history as ``history.csv`` and ``history.json``."""
        self.write_text("history.csv", history.csv_text())
        self.write_text("history.json", history.json_text())

    def history(self) -> History:
        """The history of the run, from ``history.json`` (a ``RunFolderError`` if it is damaged)."""
        try:
            return History.from_json(self.file("history.json"))
        except ValueError as error:
            raise RunFolderError(str(error)) from None

    def metrics(self) -> dict:
        """The test metrics of the run, from ``metrics.json``."""
        metrics = self.read_json("metrics.json")
        if not isinstance(metrics, dict):
            raise RunFolderError(f"{self.file('metrics.json')} is not an object of metrics")
        return metrics

    @property
    def model_path(self) -> Path:
        """The path of the run's model file, ``model.safetensors``."""
        return self.file("model.safetensors")

    # -- one process at a time -------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock while a run trains: a second process that tries gets
        ``RunFolderInUse`` naming the PID that holds it. The lock goes with its process (flock),
        so a killed run never leaves the folder locked."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            yield
            return
        handle = os.open(self.file(LOCK_FILENAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "unknown"
                raise RunFolderInUse(
                    f"{self.path} is in use by PID {holder}: another `neuralnet train` is "
                    "training it; wait for it to finish (or stop it) and try again"
                ) from None
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(handle)  # releases the lock
