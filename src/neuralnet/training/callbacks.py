"""Callbacks: hooks into training. ``on_epoch_end`` sees every history row and may stop training."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..engine.network import Network
    from .trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "ReduceLROnPlateau", "PredictionRecorder"]


class Callback:
    """Hooks into training; ``on_epoch_end`` returns True to stop.

    ``on_epoch_end`` may arrive while the next epoch trains (its evaluation ran on a second
    thread); a callback that changes how the next epoch trains sets ``synchronous = True``,
    and then every evaluation is done before the next epoch starts. ``on_epoch_trained`` is
    called in the training thread right after an epoch's last mini-batch (its gradients are
    still in the network).
    """

    synchronous = False

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called by ``Trainer.fit`` before the first epoch.

        Parameters
        ----------
        trainer : Trainer
            The trainer that trains.
        """

    def on_epoch_trained(self, trainer: Trainer) -> None:
        """Called in the training thread right after an epoch's last mini-batch, before its
        evaluation (the gradients of that mini-batch are still in the network).

        Parameters
        ----------
        trainer : Trainer
            The trainer; ``trainer.epoch`` is the epoch just trained.
        """

    def on_epoch_end(self, trainer: Trainer, row: dict) -> bool | None:
        """Called with each history row, in epoch order, once the epoch is evaluated.

        It may arrive while the next epoch trains (see the class); ``trainer.snapshot`` is the
        state the row describes.

        Parameters
        ----------
        trainer : Trainer
            The trainer.
        row : dict
            The epoch's history row (epoch, lr, train/valid loss, mse and accuracy, seconds).

        Returns
        -------
        bool or None
            True to stop training (the trainer then rolls back to the row's snapshot).
        """
        return None

    def on_train_end(self, trainer: Trainer) -> None:
        """Called by ``Trainer.fit`` when training ends (not after an exception).

        Parameters
        ----------
        trainer : Trainer
            The trainer.
        """

    def poll(self, trainer: Trainer) -> None:
        """Called every few dozen mini-batches while an epoch trains, and at its end: a callback
        with work under way on another thread (a checkpoint being written) raises that work's
        error here, at once, rather than at the end of the next epoch.

        Parameters
        ----------
        trainer : Trainer
            The trainer.
        """

    def state_dict(self) -> dict:
        """What a checkpoint must keep for training to resume exactly (arrays and numbers)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Take back what ``state_dict`` gave (a resumed run).

        Parameters
        ----------
        state : dict
            A ``state_dict``, as a checkpoint kept it.
        """


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    Parameters
    ----------
    patience : int, default 5
        Epochs without improvement before stopping (a positive integer).
    monitor : str, default "valid_loss"
        The history column watched.
    mode : str, default "auto"
        "min" for losses and "max" for accuracies ("auto" picks from the name: "max" for a
        column ending in "acc" or "score").
    min_delta : float, default 0.0
        The least change that counts as an improvement.
    restore_best : bool, default True
        Load the best epoch's weights into the network when training ends.
    """

    def __init__(
        self,
        patience: int = 5,
        monitor: str = "valid_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        restore_best: bool = True,
    ):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if mode == "auto":  # accuracies and scores (R^2, the estimators' score): higher is better
            mode = "max" if monitor.endswith(("acc", "score")) else "min"
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
        """Keep the best value (and its snapshot's weights); True after ``patience`` epochs
        without improvement. A ValueError when the run does not compute ``monitor`` (it is
        missing or NaN: give validation data)."""
        value = row.get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(
                f"early stopping monitors {self.monitor!r}, which this run does not compute (give validation data)"
            )
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
        """Load the best epoch's weights into the network (with ``restore_best``)."""
        if self.restore_best and self.best_weights is not None:
            trainer.network.load_flat_values(self.best_weights)

    def state_dict(self) -> dict:
        return {
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved (by more than
    ``threshold``, relative) for more than ``patience`` epochs, as PyTorch's
    ``ReduceLROnPlateau(mode="min", threshold_mode="rel")``; never below ``min_lr``. Without
    validation data a ``valid_...`` monitor falls back to the training set's column.

    The rate it sets is the trainer's ``lr_scale`` (times the schedule's), kept in checkpoints.

    Parameters
    ----------
    patience : int, default 10
        Epochs without improvement tolerated (a whole number >= 0).
    factor : float, default 0.1
        In (0, 1).
    monitor : str, default "valid_loss"
        The history column watched (lower is better).
    threshold : float, default 1e-4
        The least relative improvement: value < best * (1 - threshold).
    min_lr : float, default 0.0
        The lowest learning rate it sets.
    """

    synchronous = True

    def __init__(
        self,
        patience: int = 10,
        factor: float = 0.1,
        monitor: str = "valid_loss",
        threshold: float = 1e-4,
        min_lr: float = 0.0,
    ):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be a whole number >= 0, got {patience!r}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        self.patience, self.factor, self.monitor = int(patience), float(factor), monitor
        self.threshold, self.min_lr = float(threshold), float(min_lr)
        self.best: float | None = None
        self.bad_epochs = 0
        self.scale = 1.0
        self.reductions: list[int] = []  # the epochs after which the rate was lowered

    def on_train_begin(self, trainer):
        """Set the trainer's ``lr_scale`` to this callback's (a resumed run: the rate it had reached)."""
        trainer.lr_scale = self.scale  # a resumed run: the rate it had reached

    def on_epoch_end(self, trainer, row):
        """Lower ``trainer.lr_scale`` after more than ``patience`` epochs without improvement;
        never stops training. A ValueError when the run does not compute ``monitor``."""
        value = row.get(self.monitor, float("nan"))
        if isinstance(value, float) and math.isnan(value) and self.monitor.startswith("valid_"):
            value = row.get("train_" + self.monitor[len("valid_") :], float("nan"))
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"reduce-on-plateau monitors {self.monitor!r}, which this run does not compute")
        if self.best is None or value < self.best * (1.0 - self.threshold):
            self.best, self.bad_epochs = float(value), 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            lr = row["lr"]
            new_scale = self.scale * self.factor
            if lr * self.factor < self.min_lr:
                new_scale = self.scale * (self.min_lr / lr) if lr > 0 else self.scale
            self.scale, self.bad_epochs = new_scale, 0
            trainer.lr_scale = self.scale
            self.reductions.append(int(row["epoch"]))
        return False

    def state_dict(self) -> dict:
        return {
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "scale": self.scale,
            "reductions": list(self.reductions),
        }

    def load_state_dict(self, state: dict) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_epochs, self.scale = int(state["bad_epochs"]), float(state["scale"])
        self.reductions = [int(e) for e in state.get("reductions", [])]


class PredictionRecorder(Callback):
    """Keeps the class the network predicts for ``points`` after every ``every``-th epoch, with
    the weights the epoch's row describes (for the decision boundary's animation): ``frames`` is
    [(epoch, predicted classes), ...].

    Parameters
    ----------
    points : ndarray of shape [n_points, n_features]
        Where the predictions are made.
    every : int, default 1
        Record every this many epochs (and after the first).
    """

    def __init__(self, points: np.ndarray, every: int = 1):
        self.points, self.every = points, max(1, int(every))
        self.frames: list[tuple[int, np.ndarray]] = []
        self._network: Network | None = None

    def on_epoch_end(self, trainer, row):
        """Append (epoch, the classes predicted for ``points`` as uint8 [n_points]) to ``frames``."""
        if row["epoch"] % self.every == 0 or row["epoch"] == 1:
            if self._network is None:
                self._network = trainer.network.clone()
            self._network.load_flat_values(trainer.snapshot.weights)
            self.frames.append((row["epoch"], self._network.predict(self.points).astype(np.uint8)))
        return False
