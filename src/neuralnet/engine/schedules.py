"""Learning-rate schedules: (base_lr, epoch index from 0, total epochs) -> the epoch's rate.

A schedule is a plain function of the epoch; the trainer asks it once at the start of each
epoch and gives the optimizer the answer. "plateau" is the constant rate that the
``ReduceLROnPlateau`` callback lowers (through the trainer's ``lr_scale``) when the validation
loss stops improving: it depends on the history, not on the epoch alone.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

__all__ = [
    "Schedule",
    "SCHEDULES",
    "get_schedule",
    "constant_schedule",
    "step_schedule",
    "exponential_schedule",
    "cosine_schedule",
]

Schedule = Callable[[float, int, int], float]


def constant_schedule(base_lr: float, epoch: int, epochs: int) -> float:
    """lr = base_lr at every epoch.

    Parameters
    ----------
    base_lr : float
        The base learning rate.
    epoch : int
        The epoch's index, from 0.
    epochs : int
        The number of epochs of the run.

    Returns
    -------
    float
    """
    return base_lr


def step_schedule(base_lr: float, epoch: int, epochs: int, step_size: int = 10, gamma: float = 0.1) -> float:
    """lr = base_lr * gamma^floor(epoch / step_size): multiplied by gamma every step_size epochs.

    Parameters
    ----------
    base_lr : float
        The base learning rate.
    epoch : int
        The epoch's index, from 0.
    epochs : int
        The number of epochs of the run.
    step_size : int, default 10
        Epochs between two reductions.
    gamma : float, default 0.1
        The factor of each reduction.

    Returns
    -------
    float
    """
    # lr = base * gamma^floor(epoch / step_size)
    return base_lr * gamma ** (epoch // step_size)


def exponential_schedule(base_lr: float, epoch: int, epochs: int, gamma: float = 0.95) -> float:
    """lr = base_lr * gamma^epoch.

    Parameters
    ----------
    base_lr : float
        The base learning rate.
    epoch : int
        The epoch's index, from 0.
    epochs : int
        The number of epochs of the run.
    gamma : float, default 0.95
        The factor per epoch.

    Returns
    -------
    float
    """
    # lr = base * gamma^epoch
    return base_lr * gamma**epoch


def cosine_schedule(base_lr: float, epoch: int, epochs: int, min_lr: float = 0.0) -> float:
    """lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / epochs)) / 2: base_lr at epoch 0,
    falling to min_lr.

    Parameters
    ----------
    base_lr : float
        The base learning rate.
    epoch : int
        The epoch's index, from 0.
    epochs : int
        The number of epochs of the run.
    min_lr : float, default 0.0
        The rate the schedule falls to.

    Returns
    -------
    float
    """
    # lr = min + (base - min) * (1 + cos(pi * epoch / epochs)) / 2: base at epoch 0, -> min
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


SCHEDULES: dict[str, Schedule] = {
    "constant": constant_schedule,
    "step": step_schedule,
    "exponential": exponential_schedule,
    "cosine": cosine_schedule,
    "plateau": constant_schedule,  # lowered by training.callbacks.ReduceLROnPlateau
}


def get_schedule(name: str | None, **options) -> Schedule:
    """A schedule by name, with its options bound: f(base_lr, epoch, epochs) -> lr."""
    key = "constant" if name is None else str(name).lower()
    try:
        function = SCHEDULES[key]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule {name!r}; expected one of {sorted(SCHEDULES)}") from None
    return functools.partial(function, **options) if options else function
