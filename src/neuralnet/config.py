"""The training configuration: every hyper-parameter, its default, and its validation.

The defaults are the chapter's: 784-50-10 sigmoid network, MSE, plain SGD with learning
rate 0.1, mini-batches of 100, 50 epochs, seed 123. The same keys are the command-line
options (``--batch-size`` is ``batch_size``) and the keys of a ``--config`` TOML file.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .activations import ACTIVATIONS
from .layers import INITIALIZERS
from .losses import LOSSES
from .optim import OPTIMIZERS, SCHEDULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["TrainingConfig", "ConfigError", "DATASET_NAMES", "EARLY_STOPPING_MONITORS"]

DATASET_NAMES = ("mnist", "fashion-mnist")
#: what early stopping may watch: a column of the training history
EARLY_STOPPING_MONITORS = ("valid_loss", "valid_acc")


class ConfigError(ValueError):
    """A hyper-parameter with a value outside what it accepts."""


@dataclass
class TrainingConfig:
    dataset: str = "mnist"
    hidden: list[int] = field(default_factory=lambda: [50])
    activation: str = "sigmoid"
    loss: str = "mse"
    init: str = "normal"
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    dropout: float = 0.0
    shift: int = 0
    schedule: str = "constant"
    epochs: int = 50
    batch_size: int = 100
    early_stopping: int | None = None
    early_stopping_monitor: str = "valid_loss"
    seed: int = 123
    dtype: str = "float32"
    limit: int | None = None
    threads: int | None = None

    def __post_init__(self):
        self.validate()

    # -- validation, in one place --------------------------------------------------------
    def validate(self) -> "TrainingConfig":
        def fail(key, expected):
            raise ConfigError(f"{key} = {getattr(self, key)!r} is invalid: expected {expected}")

        def is_int(value):
            return isinstance(value, int) and not isinstance(value, bool)

        def is_number(value):
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        if self.dataset not in DATASET_NAMES:
            fail("dataset", f"one of {list(DATASET_NAMES)}")
        if isinstance(self.hidden, int) and not isinstance(self.hidden, bool):
            self.hidden = [self.hidden]
        if not isinstance(self.hidden, (list, tuple)) or not all(is_int(h) and h >= 1 for h in self.hidden):
            fail("hidden", "a list of positive integers (units per hidden layer), e.g. [50]")
        self.hidden = list(self.hidden)
        choices = {"activation": ACTIVATIONS, "loss": LOSSES, "init": INITIALIZERS,
                   "optimizer": OPTIMIZERS, "schedule": SCHEDULES}
        for key, table in choices.items():
            value = getattr(self, key)
            if isinstance(value, str):
                value = value.lower()
                if key == "activation":
                    value = value.replace("-", "_")
                setattr(self, key, value)
            if value not in table:
                fail(key, f"one of {sorted(table)}")
        if self.activation == "softmax":
            fail("activation", "an element-wise activation for hidden layers (not softmax)")
        if not is_number(self.lr) or self.lr <= 0:
            fail("lr", "a number > 0")
        if not is_number(self.momentum) or not 0 <= self.momentum < 1:
            fail("momentum", "a number in [0, 1)")
        if not isinstance(self.nesterov, bool):
            fail("nesterov", "true or false")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            fail("nesterov", "only with optimizer 'sgd' and a momentum > 0")
        if self.momentum and self.optimizer != "sgd":
            fail("momentum", "0 unless the optimizer is 'sgd' (Adam has its own moments)")
        if not is_number(self.weight_decay) or self.weight_decay < 0:
            fail("weight_decay", "a number >= 0")
        if not is_number(self.dropout) or not 0 <= self.dropout < 1:
            fail("dropout", "a probability in [0, 1)")
        if not is_int(self.shift) or not 0 <= self.shift <= 8:
            fail("shift", "a whole number of pixels from 0 to 8")
        for key in ("epochs", "batch_size"):
            if not is_int(getattr(self, key)) or getattr(self, key) < 1:
                fail(key, "a positive integer")
        for key in ("early_stopping", "limit", "threads"):
            value = getattr(self, key)
            if value is not None and (not is_int(value) or value < 1):
                fail(key, "a positive integer (or unset)")
        if self.early_stopping_monitor not in EARLY_STOPPING_MONITORS:
            fail("early_stopping_monitor", f"one of {list(EARLY_STOPPING_MONITORS)}")
        if self.early_stopping is None and self.early_stopping_monitor != EARLY_STOPPING_MONITORS[0]:
            fail("early_stopping_monitor", "to be given with early_stopping (the patience, in epochs)")
        if self.limit is not None and self.limit < 700:
            fail("limit", "at least 700 examples (the split keeps 1/14 for validation and 1/7 for testing)")
        if not is_int(self.seed) or self.seed < 0:
            fail("seed", "an integer >= 0")
        if self.dtype not in ("float32", "float64"):
            fail("dtype", "'float32' or 'float64'")
        return self

    # -- conversions ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingConfig":
        data = {str(k).replace("-", "_"): v for k, v in data.items()}
        unknown = sorted(set(data) - set(cls.keys()))
        if unknown:
            raise ConfigError(f"unknown configuration keys {unknown}; expected some of {cls.keys()}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path: str | Path) -> "TrainingConfig":
        return cls.from_dict(cls.read_toml(path))

    @staticmethod
    def read_toml(path: str | Path) -> dict:
        """The settings of a TOML file, not yet checked (so that options given elsewhere can be
        merged in before one check of the whole): keys at the top level or under ``[train]``,
        ``batch-size`` spelled ``batch_size``."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path} is not valid TOML: {error}") from None
        if "train" in data and isinstance(data["train"], dict):
            data = data["train"]
        return {str(key).replace("-", "_"): value for key, value in data.items()}
