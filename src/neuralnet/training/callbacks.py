"""Callbacks: hooks into training. ``on_epoch_end`` sees every history row and may stop training."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "PredictionRecorder"]


class Callback:
    """Hooks into training; ``on_epoch_end`` returns True to stop."""

    def on_train_begin(self, trainer: Trainer) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, row: dict) -> bool | None:
        return None

    def on_train_end(self, trainer: Trainer) -> None:
        pass

    def poll(self, trainer: Trainer) -> None:
        """Called every few dozen mini-batches while an epoch trains, and at its end: a callback
        with work under way on another thread (a checkpoint being written) raises that work's
        error here, at once, rather than at the end of the next epoch."""

    def state_dict(self) -> dict:
        """What a checkpoint must keep for training to resume exactly (arrays and numbers)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    ``mode`` is "min" for losses and "max" for accuracies ("auto" picks from the name).
    """

    def __init__(self, patience: int = 5, monitor: str = "valid_loss", mode: str = "auto",
                 min_delta: float = 0.0, restore_best: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if mode == "auto":
            mode = "max" if monitor.endswith("acc") else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.patience, self.monitor, self.mode = int(patience), monitor, mode
        self.min_delta, self.restore_best = float(min_delta), restore_best
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: np.ndarray | None = None  # flat weights of the best epoch
        self.stopped_epoch: int | None = None

    def _improved(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def on_epoch_end(self, trainer, row):
        value = row.get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"early stopping monitors {self.monitor!r}, which this run does not "
                             "compute (give validation data)")
        if self._improved(value):
            self.best_value, self.best_epoch = value, row["epoch"]
            if self.restore_best:  # the snapshot the row describes (the network may be further on)
                self.best_weights = trainer.snapshot.weights
            return False
        if row["epoch"] - self.best_epoch >= self.patience:
            self.stopped_epoch = row["epoch"]
            return True
        return False

    def on_train_end(self, trainer):
        if self.restore_best and self.best_weights is not None:
            trainer.network.load_flat_values(self.best_weights)

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]


class PredictionRecorder(Callback):
    """Keeps the class the network predicts for ``points`` after every ``every``-th epoch, with
    the weights the epoch's row describes (for the decision boundary's animation): ``frames`` is
    [(epoch, predicted classes), ...]."""

    def __init__(self, points: np.ndarray, every: int = 1):
        self.points, self.every = points, max(1, int(every))
        self.frames: list[tuple[int, np.ndarray]] = []
        self._network = None

    def on_epoch_end(self, trainer, row):
        if row["epoch"] % self.every == 0 or row["epoch"] == 1:
            if self._network is None:
                self._network = trainer.network.clone()
            self._network.load_flat_values(trainer.snapshot.weights)
            self.frames.append((row["epoch"], self._network.predict(self.points).astype(np.uint8)))
        return False
