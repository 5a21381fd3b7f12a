"""The configuration vocabulary: every hyper-parameter, its default, its meaning and its check.

The defaults are the chapter's: 784-50-10 sigmoid network, MSE, plain SGD with learning
rate 0.1, mini-batches of 100, 50 epochs, seed 123. Each key is declared once, below, with
the metadata that everything else is made from: the check in ``TrainingConfig.validate``,
the ``neuralnet train`` option (``--batch-size`` is ``batch_size``), the reading of a value
from text (``parse_value``: a ``--param`` of ``neuralnet tune``), and the constraints of the
scikit-learn estimator's parameters. The rules that tie keys together (Nesterov needs
momentum, ...) are ``RULES``. A ``--config`` TOML file uses the same keys.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..datasets.toy import TOY_DATASETS
from ..engine.activations import ACTIVATIONS
from ..engine.initializers import INITIALIZERS
from ..engine.layers import SpecError
from ..engine.losses import LOSSES
from ..engine.optim import OPTIMIZERS
from ..engine.schedules import SCHEDULES
from ..engine.specs import NAMED_STACKS, normalize_spec, parse_layers

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "TrainingConfig",
    "ConfigError",
    "Setting",
    "SETTINGS",
    "RULES",
    "DATASET_NAMES",
    "CHAPTER_DATASETS",
    "EARLY_STOPPING_MONITORS",
    "HIDDEN_ACTIVATIONS",
    "INITS",
    "TASKS",
    "PLATEAU",
    "OPTIMIZER_DEFAULTS",
    "optimizer_default",
    "parse_value",
    "check_value",
    "canonical_key",
]

#: the image sets of the chapter's kind, and the toy 2-D problems (``datasets.toy``)
CHAPTER_DATASETS = ("mnist", "fashion-mnist")
DATASET_NAMES = (*CHAPTER_DATASETS, *TOY_DATASETS)
#: what early stopping may watch: a column of the training history
EARLY_STOPPING_MONITORS = ("valid_loss", "valid_acc")
#: activations a hidden layer may use (softmax is only an output)
HIDDEN_ACTIVATIONS = tuple(sorted(set(ACTIVATIONS) - {"softmax"}))
#: weight initializers; "auto" is He for ReLU-like activations and Glorot for the others
INITS = tuple(sorted(INITIALIZERS)) + ("auto",)
TASKS = ("classification", "regression")
#: NumPy's RandomState takes seeds up to 2^32 - 1
MAX_SEED = 2**32 - 1
#: more epochs than anyone means: a typo (the chapter trains 50)
MAX_EPOCHS = 100_000
#: the schedule that follows the validation loss (its callback lowers the constant rate)
PLATEAU = "plateau"
#: settings that, unset, take the optimizer's own default (its constructor's, PyTorch's)
OPTIMIZER_DEFAULTS = ("lr", "eps", "weight_decay")


class ConfigError(ValueError):
    """A hyper-parameter with a value outside what it accepts; ``keys`` are the configuration
    keys involved (several for a rule between keys)."""

    def __init__(self, message: str, keys: tuple[str, ...] = ()):
        super().__init__(message)
        self.keys = tuple(keys)


@dataclass(frozen=True)
class Setting:
    """What one configuration key accepts and means.

    ``kind``: "int", "float", "bool", "choice" (one of ``choices``), "text", "path", "ints" (a list of
    whole numbers, e.g. hidden layer sizes), "floats" (a list of ``length`` numbers, e.g. Adam's
    betas) or "layers" (a stack of layer specs, from a list of objects, the short syntax of
    ``engine.specs.parse_layers`` or a named stack). Numbers (each of a list's) must lie in
    [``low``, ``high``] (an end is excluded when ``low_open``/``high_open``); ``optional`` admits
    None (unset), which ``unset`` explains (e.g. "the optimizer's default"). ``expected``
    overrides the generated description of what is accepted. ``group``, ``flags`` (other
    spellings on the command line) and ``metavar`` are for ``neuralnet train --help``.
    """

    kind: str
    help: str
    group: str
    table: Mapping[str, Any] | tuple[str, ...] = ()  # "choice": the names, or a table read at check time
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    expected: str | None = None
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    length: int | None = None
    unset: str = "off"

    @property
    def choices(self) -> tuple[str, ...]:
        """The accepted names of a "choice" (a table's keys as they are now, sorted)."""
        return tuple(sorted(self.table)) if isinstance(self.table, Mapping) else tuple(self.table)

    def description(self) -> str:
        """What the setting accepts, in words: "a number > 0", "one of [...]", ..."""
        if self.expected:
            return self.expected
        if self.kind == "bool":
            return "true or false"
        if self.kind in ("text", "path"):
            return ("a file or folder" if self.kind == "path" else "a name") + (" (or unset)" if self.optional else "")
        if self.kind == "layers":
            return (
                "a stack of layers: a list of {type = ..., ...} tables, the short form conv2d(32, 5, padding=2), "
                f"relu, maxpool2d(2), flatten, dense(128), or one of {sorted(NAMED_STACKS)}"
                + (" (or unset)" if self.optional else "")
            )
        if self.kind == "choice":
            return f"one of {list(self.choices)}"
        noun = (
            "a positive integer"
            if self.kind == "int" and self.low == 1 and self.high is None
            else "an integer"
            if self.kind == "int"
            else f"a list of {self.length} numbers, each"
            if self.kind == "floats"
            else "a number"
        )
        if noun == "a positive integer":
            bounds = ""
        elif self.low is not None and self.high is not None:
            bounds = f" in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        elif self.low is not None:
            bounds = f" {'>' if self.low_open else '>='} {self.low:g}"
        else:
            bounds = ""
        return noun + bounds + (" (or unset)" if self.optional else "")

    def accepts(self, value) -> bool:
        """Whether ``value`` (already normalized) is one this setting takes."""
        if value is None:
            return self.optional
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "ints":
            return isinstance(value, list) and all(self._number_ok(v, whole=True) for v in value)
        if self.kind == "floats":
            return (
                isinstance(value, list)
                and (self.length is None or len(value) == self.length)
                and all(self._number_ok(v, whole=False) for v in value)
            )
        if self.kind in ("text", "path"):
            return isinstance(value, str) and bool(value.strip())
        if self.kind == "layers":
            return isinstance(value, list) and len(value) > 0 and all(isinstance(v, dict) for v in value)
        return self._number_ok(value, whole=self.kind == "int")

    def _number_ok(self, value, whole: bool) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float) if not whole else int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def normalize(self, value):
        """The value in its canonical form (lower-case names, a single size as a list), unchecked
        (a stack of layers that cannot be read raises ``SpecError``)."""
        if self.kind == "layers" and value is not None:
            if isinstance(value, str):
                value = parse_layers(NAMED_STACKS.get(value.strip().lower(), value))
            elif isinstance(value, (list, tuple)):
                value = [normalize_spec(spec) for spec in value]
            return value
        if self.kind == "choice" and isinstance(value, str):
            value = value.strip().lower()
            return value.replace("-", "_") if "_" in "".join(self.choices) else value
        if self.kind == "ints":
            if isinstance(value, int) and not isinstance(value, bool):
                return [value]
            if _whole_float(value):
                return [int(value)]
            if isinstance(value, tuple):
                return list(value)
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if self.kind == "floats" and isinstance(value, (list, tuple)):
            return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        if self.kind == "int" and _whole_float(value):
            return int(value)  # TOML's 64.0
        if self.kind == "ints" and isinstance(value, list):
            return [int(v) if _whole_float(v) else v for v in value]
        return value

    def parse(self, text: str):
        """A value from text (a command-line option, a ``--param`` value); ValueError if unreadable."""
        text = text.strip()
        if self.optional and text.lower() in ("none", "off", ""):
            return None
        if self.kind == "bool":
            lowered = text.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError(f"{text!r} is not a boolean: expected true or false")
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a whole number") from None
        if self.kind == "float":
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a number") from None
        if self.kind == "floats":  # "0.9,0.999", "0.9 0.999" or, in a list of values (tune), "0.9/0.999"
            try:
                return [float(part) for part in text.replace(",", " ").replace("/", " ").split()]
            except ValueError:
                raise ValueError(
                    f"{text!r}: expected numbers separated by commas or slashes, like 0.9,0.999 or 0.9/0.999"
                ) from None
        if self.kind == "ints":  # "512x256", "512-256" or "100"
            try:
                return [int(part) for part in text.replace("-", "x").split("x")]
            except ValueError:
                raise ValueError(f"{text!r}: expected units per layer, like 100 or 512x256") from None
        return text


def _whole_float(value) -> bool:
    return isinstance(value, float) and value.is_integer()


def setting(default, help: str, group: str, kind: str, **options) -> Any:
    """A dataclass field declared with its ``Setting``."""
    meta = {"setting": Setting(kind, help, group, **options)}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def optimizer_default(optimizer: str, key: str):
    """The default of ``key`` in the constructor of ``optimizer``.

    Parameters
    ----------
    optimizer : str
        The optimizer's name, e.g. "adam".
    key : str
        The constructor's parameter, e.g. "lr".

    Returns
    -------
    object
        Its default; None when it has no such parameter, or for an unknown optimizer (which
        the check then names).
    """
    import inspect

    if optimizer not in OPTIMIZERS:
        return None
    parameter = inspect.signature(OPTIMIZERS[optimizer]).parameters.get(key)
    return None if parameter is None else parameter.default


@dataclass
class TrainingConfig:
    """Every hyper-parameter of a training run, checked when it is made.

    Each field is one configuration key, declared with its ``Setting`` (``SETTINGS[key]``:
    what it accepts, its meaning, its command-line option); the defaults are the chapter's.

    Raises
    ------
    ConfigError
        If a key has a value outside what it accepts, or a rule between keys does not hold
        (``validate``).
    """

    dataset: str = setting(
        "mnist",
        "which data set: MNIST or Fashion-MNIST with the chapter's split, or a toy 2-D "
        "problem (moons, circles, spirals, blobs: --samples, --noise)",
        "data",
        "choice",
        table=DATASET_NAMES,
    )
    data: str | None = setting(
        None,
        "train on your own data instead: a CSV file (header row; --target), a .npz file "
        "of X and y (and X_test, y_test), a folder of class-named folders of PNG/JPEG images, "
        "or a folder of the four IDX files of an MNIST-like set",
        "data",
        "path",
        optional=True,
        metavar="PATH",
    )
    target: str | None = setting(
        None, "the target column of a CSV file (default: the last)", "data", "text", optional=True, metavar="COLUMN"
    )
    image_size: int | None = setting(
        None,
        "resize the images of an image folder to SIZE x SIZE (default: the most common size)",
        "data",
        "int",
        low=4,
        high=1024,
        optional=True,
        metavar="SIZE",
    )
    valid_fraction: float = setting(
        0.1,
        "the part of your own data held out for validation (stratified by class, from --seed)",
        "data",
        "float",
        low=0,
        high=0.5,
        low_open=True,
        metavar="F",
    )
    test_fraction: float = setting(
        0.2,
        "the part of your own data held out for testing, unless the file has its own test split",
        "data",
        "float",
        low=0,
        high=0.5,
        low_open=True,
        metavar="F",
    )
    samples: int = setting(1000, "points of a toy 2-D problem", "data", "int", low=20, high=1_000_000, metavar="N")
    noise: float = setting(0.2, "noise of a toy 2-D problem", "data", "float", low=0, high=10, metavar="S")
    layers: list[dict] | None = setting(
        None,
        "the network as a stack of layers, in place of --hidden/--activation/--dropout: e.g. "
        "'conv2d(32, 5, padding=2), relu, maxpool2d(2), flatten, dense(128), relu' or a named stack "
        f"({', '.join(sorted(NAMED_STACKS))}); the output layer for the classes is added",
        "network",
        "layers",
        optional=True,
        metavar="STACK",
    )
    task: str = setting(
        "classification",
        "classification (class labels) or regression (numeric targets: identity outputs, MSE)",
        "network",
        "choice",
        table=TASKS,
    )
    hidden: list[int] = setting(
        [50],
        "units in each hidden layer, e.g. --hidden 512 256",
        "network",
        "ints",
        low=1,
        expected="a list of positive integers (units per hidden layer), e.g. [50]",
        metavar="UNITS",
    )
    activation: str = setting(
        "sigmoid", "activation of the hidden layers", "network", "choice", table=HIDDEN_ACTIVATIONS
    )
    loss: str = setting(
        "mse",
        "mse: sigmoid outputs and the chapter's squared error; cross-entropy: softmax outputs and the log-loss",
        "network",
        "choice",
        table=LOSSES,
    )
    init: str = setting(
        "normal",
        "weight initialization: normal is the chapter's N(0, 0.1); glorot/xavier "
        "uniform; he N(0, 2/fan_in); auto: he for ReLU-like activations, else glorot",
        "network",
        "choice",
        table=INITS,
    )
    dropout: float = setting(
        0.0,
        "dropout probability after each hidden layer",
        "network",
        "float",
        low=0,
        high=1,
        high_open=True,
        expected="a probability in [0, 1)",
        metavar="P",
    )
    shift: int = setting(
        0,
        "augment the training images: move each one by a random number of pixels, up to "
        "PIXELS in each direction, every time it is used (0: off)",
        "network",
        "int",
        low=0,
        high=8,
        expected="a whole number of pixels from 0 to 8",
        metavar="PIXELS",
    )
    dtype: str = setting(
        "float32", "floating-point type of weights and data", "network", "choice", table=("float32", "float64")
    )
    optimizer: str = setting(
        "sgd",
        "sgd (the chapter's, with optional momentum), adam, adamw (decoupled weight "
        "decay), rmsprop or adagrad, with PyTorch's hyper-parameters",
        "optimization",
        "choice",
        table=OPTIMIZERS,
    )
    lr: float | None = setting(
        None,
        "learning rate (default: the optimizer's: 0.1 for sgd, the chapter's; 0.001 for "
        "adam and adamw; 0.01 for rmsprop and adagrad)",
        "optimization",
        "float",
        low=0,
        low_open=True,
        optional=True,
        unset="the optimizer's",
        expected="a number > 0",
        flags=("--learning-rate",),
        metavar="RATE",
    )
    momentum: float = setting(0.0, "momentum of sgd or rmsprop", "optimization", "float", low=0, high=1, high_open=True)
    nesterov: bool = setting(False, "use Nesterov momentum (needs --momentum)", "optimization", "bool")
    betas: list[float] = setting(
        [0.9, 0.999],
        "Adam's and AdamW's decay rates of the moments, beta1 beta2",
        "optimization",
        "floats",
        low=0,
        high=1,
        high_open=True,
        length=2,
        metavar="BETA",
    )
    eps: float | None = setting(
        None,
        "the term that keeps adam, adamw, rmsprop and adagrad from dividing by zero "
        "(default: the optimizer's: 1e-8, or 1e-10 for adagrad)",
        "optimization",
        "float",
        low=0,
        low_open=True,
        optional=True,
        unset="the optimizer's",
        metavar="EPS",
    )
    alpha: float = setting(
        0.99,
        "RMSprop's smoothing constant of the mean square (PyTorch's alpha; not "
        "scikit-learn's alpha, which is --weight-decay)",
        "optimization",
        "float",
        low=0,
        high=1,
        high_open=True,
    )
    weight_decay: float | None = setting(
        None,
        "weight decay on the weights: L2 added to the gradient (sgd, adam, "
        "rmsprop, adagrad), decoupled for adamw (default: 0, or 0.01 for adamw)",
        "optimization",
        "float",
        low=0,
        optional=True,
        unset="the optimizer's",
        flags=("--l2",),
        metavar="LAMBDA",
    )
    l1: float = setting(
        0.0,
        "L1 regularization strength on the weights: l1 * sign(w) added to the gradient",
        "optimization",
        "float",
        low=0,
        metavar="LAMBDA",
    )
    max_grad_norm: float | None = setting(
        None,
        "clip the gradients so that their global L2 norm is at most this (PyTorch's clip_grad_norm_)",
        "optimization",
        "float",
        low=0,
        low_open=True,
        optional=True,
        flags=("--clip-grad-norm",),
        metavar="NORM",
    )
    schedule: str = setting(
        "constant",
        "learning-rate schedule over the epochs: step (x0.1 every 10 epochs), "
        "exponential (x0.95 per epoch), cosine (to 0), plateau (x --plateau-factor when the "
        "validation loss has not improved for --plateau-patience epochs)",
        "optimization",
        "choice",
        table=SCHEDULES,
    )
    plateau_patience: int = setting(
        10,
        "epochs without improvement of the validation loss before schedule plateau lowers the learning rate",
        "optimization",
        "int",
        low=1,
        metavar="EPOCHS",
    )
    plateau_factor: float = setting(
        0.1,
        "what schedule plateau multiplies the learning rate by",
        "optimization",
        "float",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
        metavar="F",
    )
    warmup_epochs: int = setting(
        0,
        "raise the learning rate linearly from 0 over the first EPOCHS epochs, step by step (0: no warm-up)",
        "optimization",
        "int",
        low=0,
        high=MAX_EPOCHS,
        metavar="EPOCHS",
    )
    epochs: int = setting(
        50,
        "number of epochs",
        "optimization",
        "int",
        low=1,
        high=MAX_EPOCHS,
        expected=f"a positive integer up to {MAX_EPOCHS:,} (one epoch is one pass over the training set)",
    )
    batch_size: int = setting(
        100, "mini-batch size", "optimization", "int", low=1, flags=("--minibatch-size",), metavar="N"
    )
    early_stopping: int | None = setting(
        None,
        "stop when the validation loss (or --early-stopping-monitor) has "
        "not improved for PATIENCE epochs and keep the best epoch's weights",
        "optimization",
        "int",
        low=1,
        optional=True,
        metavar="PATIENCE",
    )
    early_stopping_monitor: str = setting(
        "valid_loss",
        "what early stopping watches: the validation loss (lower "
        "is better) or the validation accuracy (higher is better)",
        "optimization",
        "choice",
        table=EARLY_STOPPING_MONITORS,
    )
    seed: int = setting(
        123,
        "seed of the weight initialization and the shuffling",
        "optimization",
        "int",
        low=0,
        high=MAX_SEED,
        expected=f"an integer from 0 to {MAX_SEED} (2^32 - 1)",
    )
    limit: int | None = setting(
        None,
        "use a stratified subset of N examples (>= 700) for a quick run; the split keeps the chapter's proportions",
        "data",
        "int",
        low=700,
        optional=True,
        expected="at least 700 examples (the split keeps 1/14 for validation and 1/7 for testing)",
        metavar="N",
    )
    threads: int | None = setting(
        None,
        "number of BLAS threads (default: the library's own choice)",
        "data",
        "int",
        low=1,
        optional=True,
        metavar="N",
    )

    def __post_init__(self):
        self.validate()

    # -- validation, in one place --------------------------------------------------------
    def validate(self) -> TrainingConfig:
        """Check every key against its ``Setting``, then the ``RULES`` between keys.

        An unset ``lr``, ``eps`` or ``weight_decay`` becomes the optimizer's default
        (``optimizer_default``), and every value is stored in its normalized form.

        Returns
        -------
        TrainingConfig
            This configuration.

        Raises
        ------
        ConfigError
            Naming the key (or, for a rule, the keys) and what was expected.
        """
        for key in OPTIMIZER_DEFAULTS:
            if getattr(self, key) is None and isinstance(self.optimizer, str):
                setattr(self, key, optimizer_default(self.optimizer.strip().lower(), key))
        for key, spec in SETTINGS.items():
            try:
                value = spec.normalize(getattr(self, key))
            except SpecError as error:
                raise ConfigError(f"{key} = {getattr(self, key)!r} is invalid: {error}", (key,)) from None
            if not spec.accepts(value):
                raise ConfigError(f"{key} = {getattr(self, key)!r} is invalid: expected {spec.description()}", (key,))
            setattr(self, key, value)
        for keys, holds, expected in RULES:
            if not holds(self):
                key = keys[0]
                raise ConfigError(f"{key} = {getattr(self, key)!r} is invalid: expected {expected}", keys)
        return self

    # -- conversions ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Every key and its value, as a new dict (``TrainingConfig.from_dict`` reads it back)."""
        return asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        """The configuration keys, in declaration order."""
        return list(SETTINGS)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingConfig:
        """A configuration from a dict of settings, checked.

        Parameters
        ----------
        data : dict
            Settings by key, in any of the keys' spellings (``batch-size``, ``minibatch_size``);
            keys left out take their defaults.

        Returns
        -------
        TrainingConfig
            The checked configuration.

        Raises
        ------
        ConfigError
            For an unknown key, or a value ``validate`` refuses.
        """
        data = {canonical_key(k, strict=False): v for k, v in data.items()}
        unknown = sorted(set(data) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"unknown configuration keys {unknown}; expected some of {cls.keys()}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainingConfig:
        """A configuration from a TOML file of settings (``read_toml``), checked (``from_dict``).

        Parameters
        ----------
        path : str or Path
            The TOML file.

        Returns
        -------
        TrainingConfig
            The checked configuration.

        Raises
        ------
        ConfigError
            For a missing or invalid file, a table in it, an unknown key or an invalid value.
        """
        return cls.from_dict(cls.read_toml(path))

    @staticmethod
    def read_toml(path: str | Path) -> dict:
        """The settings of a TOML file, not yet checked.

        Unchecked so that options given elsewhere can be merged in before one check of the
        whole. The keys are at the top level of the file.

        Parameters
        ----------
        path : str or Path
            The TOML file.

        Returns
        -------
        dict
            The settings by key, with dashes spelled as underscores (``batch-size`` ->
            ``batch_size``).

        Raises
        ------
        ConfigError
            If the file does not exist or is not valid TOML, or for a table (``[train]``, ...),
            naming its keys: its settings would otherwise be read in one layout and dropped in
            another.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path} is not valid TOML: {error}") from None
        tables = {key: value for key, value in data.items() if isinstance(value, dict)}
        if tables:
            name, table = next(iter(tables.items()))
            raise ConfigError(
                f"{path}: [{name}] is a table, but neuralnet reads the settings as keys at the top "
                f"of the file (e.g. epochs = 10); move {sorted(table) or 'its keys'} out of [{name}] "
                "(or delete the [...] line)",
                (str(name),),
            )
        return {str(key).replace("-", "_"): value for key, value in data.items()}


#: every key's Setting, in declaration order
SETTINGS: dict[str, Setting] = {f.name: f.metadata["setting"] for f in fields(TrainingConfig)}

#: (keys involved, condition that must hold, what is expected of the first key)
RULES: Sequence[tuple[tuple[str, ...], Callable[[TrainingConfig], bool], str]] = (
    (
        ("nesterov", "optimizer", "momentum"),
        lambda c: not c.nesterov or (c.optimizer == "sgd" and c.momentum > 0),
        "only with optimizer 'sgd' and a momentum > 0",
    ),
    (
        ("momentum", "optimizer"),
        lambda c: not c.momentum or c.optimizer in ("sgd", "rmsprop"),
        "0 unless the optimizer is 'sgd' or 'rmsprop' (Adam has its own moments)",
    ),
    (
        ("betas", "optimizer"),
        lambda c: c.betas == [0.9, 0.999] or c.optimizer in ("adam", "adamw"),
        "its default [0.9, 0.999] unless the optimizer is 'adam' or 'adamw'",
    ),
    (
        ("alpha", "optimizer"),
        lambda c: c.alpha == 0.99 or c.optimizer == "rmsprop",
        "its default 0.99 unless the optimizer is 'rmsprop' (scikit-learn's alpha, the L2 penalty, is weight_decay "
        "here)",
    ),
    (
        ("eps", "optimizer"),
        lambda c: c.eps is None or optimizer_default(c.optimizer, "eps") is not None,
        "unset for an optimizer without eps (sgd)",
    ),
    (
        ("plateau_patience", "schedule"),
        lambda c: c.plateau_patience == 10 or c.schedule == PLATEAU,
        "to be given only with schedule 'plateau'",
    ),
    (
        ("plateau_factor", "schedule"),
        lambda c: c.plateau_factor == 0.1 or c.schedule == PLATEAU,
        "to be given only with schedule 'plateau'",
    ),
    (
        ("warmup_epochs", "epochs"),
        lambda c: c.warmup_epochs < c.epochs,
        "fewer than the epochs (the warm-up ends before training does)",
    ),
    (
        ("early_stopping_monitor", "early_stopping"),
        lambda c: c.early_stopping is not None or c.early_stopping_monitor == EARLY_STOPPING_MONITORS[0],
        "to be given with early_stopping (the patience, in epochs)",
    ),
    (
        ("loss", "task"),
        lambda c: c.task == "classification" or c.loss == "mse",
        "'mse' for a regression task (cross-entropy needs classes)",
    ),
    (
        ("data", "dataset"),
        lambda c: c.data is None or c.dataset == "mnist",
        "to replace dataset (your own data or a named data set, not both)",
    ),
    (
        ("limit", "dataset", "data"),
        lambda c: c.limit is None or (c.data is None and c.dataset in CHAPTER_DATASETS),
        f"to be given only with dataset {' or '.join(CHAPTER_DATASETS)} (it keeps the chapter's proportions)",
    ),
    (
        ("samples", "dataset"),
        lambda c: c.samples == 1000 or c.dataset in TOY_DATASETS,
        f"to be given only with a toy dataset ({', '.join(TOY_DATASETS)})",
    ),
    (
        ("noise", "dataset"),
        lambda c: c.noise == 0.2 or c.dataset in TOY_DATASETS,
        f"to be given only with a toy dataset ({', '.join(TOY_DATASETS)})",
    ),
    (("target", "data"), lambda c: c.target is None or c.data is not None, "to be given with data (a CSV file)"),
    (
        ("image_size", "data"),
        lambda c: c.image_size is None or c.data is not None,
        "to be given with data (a folder of images)",
    ),
    (
        ("layers", "hidden", "dropout"),
        lambda c: c.layers is None or (c.hidden == [50] and c.dropout == 0),
        "to replace hidden and dropout, which describe the multilayer perceptron: leave those at their "
        "defaults (put the layers and the dropout in the stack)",
    ),
)

#: other spellings of keys (command-line flags without their dashes)
_ALIASES = {flag.lstrip("-").replace("-", "_"): key for key, spec in SETTINGS.items() for flag in spec.flags}


def canonical_key(name: str, strict: bool = True) -> str:
    """A configuration key from any of its spellings.

    Parameters
    ----------
    name : str
        The key, a spelling with dashes or a command-line flag's name (``batch-size``,
        ``minibatch_size`` -> ``batch_size``).
    strict : bool
        Refuse a name that is not a key (else it is returned, its dashes as underscores).

    Returns
    -------
    str
        The key.

    Raises
    ------
    ConfigError
        With ``strict``, for a name that is not a key.
    """
    key = str(name).strip().replace("-", "_")
    key = _ALIASES.get(key, key)
    if strict and key not in SETTINGS:
        raise ConfigError(f"unknown configuration key {name!r}; expected one of {list(SETTINGS)}")
    return key


def parse_value(key: str, text: str):
    """One value of ``key`` read from text and checked against its ``Setting``.

    ``parse_value("hidden", "512x256") == [512, 256]``.

    Parameters
    ----------
    key : str
        The configuration key, in any of its spellings.
    text : str
        The value as text (a command-line option, a ``--param`` value).

    Returns
    -------
    object
        The value, normalized.

    Raises
    ------
    ConfigError
        For an unknown key, or text that is not a value the key accepts, naming what was
        expected.
    """
    spec = SETTINGS[canonical_key(key)]
    try:
        value = spec.normalize(spec.parse(text))
    except ValueError as error:
        raise ConfigError(f"{key}={text!r}: {error}; expected {spec.description()}", (key,)) from None
    check_value(key, value)
    return value


def check_value(key: str, value):
    """``value`` normalized and checked against the ``Setting`` of ``key`` alone (not the rules).

    Parameters
    ----------
    key : str
        The configuration key, in any of its spellings.
    value : object
        The value, e.g. from a TOML file.

    Returns
    -------
    object
        The value, normalized.

    Raises
    ------
    ConfigError
        For an unknown key, or a value the key does not accept.
    """
    key = canonical_key(key)
    spec = SETTINGS[key]
    try:
        normalized = spec.normalize(value)
    except SpecError as error:
        raise ConfigError(f"{key} = {value!r} is invalid: {error}", (key,)) from None
    if not spec.accepts(normalized):
        raise ConfigError(f"{key} = {value!r} is invalid: expected {spec.description()}", (key,))
    return normalized
