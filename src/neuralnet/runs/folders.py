"""Run folders: where a training run keeps its configuration, history, model and figures.

    runs/20261125-163000/
        config.json        the TrainingConfig and where the data came from
        history.csv        one row per epoch (also history.json)
        metrics.json       test accuracy, loss and MSE, confusion matrix, timings
        model.safetensors  the weights and their JSON header (see neuralnet.io)
        log.txt            the training log as printed
        figures/*.png      the chapter's figures and a confusion matrix

A new run always gets a new folder; an existing folder is never written over.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..training.history import History
from .config import TrainingConfig

__all__ = ["RunFolder", "create_run_folder", "latest_run", "FIGURE_FILES"]

FIGURE_FILES = {
    "digits_per_class": "figures/digits_per_class.png",      # Figure 11.4
    "digit_variants": "figures/digit_variants.png",          # Figure 11.5
    "loss": "figures/loss.png",                              # Figure 11.7
    "accuracy": "figures/accuracy.png",                      # Figure 11.8
    "misclassified": "figures/misclassified.png",            # Figure 11.9
    "confusion_matrix": "figures/confusion_matrix.png",
    "hidden_weights": "figures/hidden_weights.png",
}


def create_run_folder(out: str | Path = "runs") -> Path:
    """Make ``<out>/<timestamp>/``, adding -2, -3 ... if that name is taken (never reusing one)."""
    out = Path(out)
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
    """The most recent training run in ``out`` that holds a model (folders of ``neuralnet
    tune``, which hold a model but no training configuration, are not training runs)."""
    out = Path(out)
    candidates = sorted((p for p in out.glob("*/model.safetensors") if RunFolder(p.parent).exists()),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(f"no trained run in {out}/ (train one with `neuralnet train`)")
    return candidates[-1].parent


class RunFolder:
    """Reads and writes the files of one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / "config.json").is_file()

    def require(self) -> "RunFolder":
        if not self.path.is_dir():
            raise FileNotFoundError(f"run folder {self.path} does not exist")
        if not self.exists():
            hint = ""
            if (self.path / "search.json").is_file():
                hint = ("; it is a `neuralnet tune` folder: its model.safetensors loads with "
                        "neuralnet.load and exports with `neuralnet export`")
            raise FileNotFoundError(f"{self.path} is not a training run folder (no config.json){hint}")
        return self

    # -- files ---------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data) -> Path:
        path = self.file(name)
        path.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n")
        return path

    def read_json(self, name: str):
        path = self.file(name)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} is missing from the run folder") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None

    # -- typed accessors -----------------------------------------------------------------
    def write_config(self, config: TrainingConfig, **extra) -> Path:
        return self.write_json("config.json", {"config": config.to_dict(), **extra})

    def config(self) -> TrainingConfig:
        return TrainingConfig.from_dict(self.read_json("config.json")["config"])

    def write_history(self, history: History) -> None:
        history.to_csv(self.file("history.csv"))
        history.to_json(self.file("history.json"))

    def history(self) -> History:
        return History.from_json(self.file("history.json"))

    def metrics(self) -> dict:
        return self.read_json("metrics.json")

    @property
    def model_path(self) -> Path:
        return self.file("model.safetensors")
