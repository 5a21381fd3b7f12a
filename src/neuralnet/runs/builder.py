"""The one builder: a ``TrainingConfig`` -> layer specs -> network, optimizer, schedule,
callbacks and trainer.

Every front end (``neuralnet train``, a TOML file, ``MLPClassifier``/``MLPRegressor``,
``neuralnet tune``, ``neuralnet explain``, the chapter's ``NeuralNetMLP``) fills a configuration
and calls these functions; none of them makes engine objects of its own::

    setup = build(TrainingConfig(hidden=[512, 256], activation="relu"), (784,), 10)
    setup.trainer.fit(X_train, y_train, epochs=..., callbacks=list(setup.callbacks.values()))

A network is a stack of layer specs (``engine.specs``). The multilayer perceptron of
``hidden``, ``activation``, ``dropout`` and ``shift`` is one generator of stacks
(``mlp_specs``); ``layers`` gives any other stack, to which the output layer for the classes
(or the regression's targets) is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..engine.losses import get_loss
from ..engine.network import Network
from ..engine.network import build_network as build_stack
from ..engine.optim import Optimizer, get_optimizer
from ..engine.schedules import Schedule, get_schedule
from ..training.callbacks import Callback, EarlyStopping, ReduceLROnPlateau
from ..training.trainer import Trainer
from .config import PLATEAU, TrainingConfig

__all__ = [
    "TrainingSetup",
    "build",
    "build_network",
    "build_optimizer",
    "build_schedule",
    "build_callbacks",
    "build_trainer",
    "optimizer_settings",
    "layer_specs",
    "mlp_specs",
    "input_shape",
    "IMAGE_LAYERS",
    "RELU_LIKE",
]

#: layer types that take images [channels, height, width], not rows of features
IMAGE_LAYERS = ("Conv2D", "MaxPool2D", "AvgPool2D")
#: activations whose layers "auto" initializes with He's N(0, 2 / fan_in); Glorot for the others
RELU_LIKE = ("relu", "leaky_relu")
#: layer types with weights drawn by an initializer
WEIGHTED_LAYERS = ("Dense", "Conv2D")
#: per optimizer, the configuration keys its constructor takes (besides the shared l1, max_grad_norm)
OPTIMIZER_KEYS = {
    "sgd": ("lr", "momentum", "nesterov", "weight_decay"),
    "adam": ("lr", "betas", "eps", "weight_decay"),
    "adamw": ("lr", "betas", "eps", "weight_decay"),
    "rmsprop": ("lr", "alpha", "eps", "weight_decay", "momentum"),
    "adagrad": ("lr", "eps", "weight_decay"),
}
#: ``build_trainer``'s default ``rng``: a RandomState of the configuration's seed
FROM_SEED = object()


@dataclass
class TrainingSetup:
    """What ``build`` makes of a configuration.

    Attributes
    ----------
    network : Network
        The network the configuration describes.
    trainer : Trainer
        Its trainer, with the optimizer and the schedule.
    callbacks : dict of str to Callback
        The named callbacks the configuration asks for (their names are the keys of their
        states in a checkpoint).
    """

    network: Network
    trainer: Trainer
    callbacks: dict[str, Callback]

    @property
    def optimizer(self) -> Optimizer:
        """The trainer's optimizer."""
        return self.trainer.optimizer


# --- the stack of layers ----------------------------------------------------------------------


def mlp_specs(
    n_features: int,
    hidden: Sequence[int],
    n_outputs: int,
    *,
    activation: str = "sigmoid",
    output: str = "sigmoid",
    init: str = "normal",
    dropout: float = 0.0,
    shift: int = 0,
) -> list[dict]:
    """The multilayer perceptron as a stack of layer specs.

    The stack is [RandomShift(``shift``)], then per hidden layer Dense, ``activation`` (and
    Dropout(``dropout``)), then Dense to ``n_outputs`` and the ``output`` activation.
    ``mlp_specs(784, [50], 10)`` is the chapter's network.

    Parameters
    ----------
    n_features : int
        Inputs of the first dense layer (the features of one example).
    hidden : sequence of int
        Units in each hidden layer.
    n_outputs : int
        Units of the last dense layer.
    activation : str
        Activation of the hidden layers.
    output : str
        Activation of the output layer; none for "identity".
    init : str
        Initializer of the dense layers; "auto" is He for every layer when ``activation`` is
        ReLU-like, else Glorot.
    dropout : float
        Probability of the Dropout layer after each hidden activation (0: none).
    shift : int
        Largest shift, in pixels, of the RandomShift layer at the start (0: none).

    Returns
    -------
    list of dict
        The layer specs, first layer first.
    """
    if init == "auto":
        init = "he" if activation in RELU_LIKE else "glorot"
    specs: list[dict] = [{"type": "RandomShift", "max_shift": int(shift)}] if shift else []
    sizes = [int(n_features), *(int(h) for h in hidden)]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        specs += [
            {"type": "Dense", "n_in": n_in, "n_out": n_out, "init": init},
            {"type": "Activation", "name": activation},
        ]
        if dropout:
            specs.append({"type": "Dropout", "p": float(dropout)})
    specs.append({"type": "Dense", "n_in": sizes[-1], "n_out": int(n_outputs), "init": init})
    if output != "identity":
        specs.append({"type": "Activation", "name": output})
    return specs


def _output_activation(config: TrainingConfig) -> str:
    """Identity for a regression; else the loss's own (sigmoid for the MSE, none for the
    cross-entropy, whose softmax is part of the loss)."""
    return "identity" if config.task == "regression" else get_loss(config.loss).output_activation


def _resolve_auto_init(specs: list[dict], init: str | None = None) -> list[dict]:
    """The stack with every weighted layer's initializer named: a layer without one gets
    ``init``; "auto" becomes He when the next activation in the stack is ReLU-like, else Glorot."""
    resolved = []
    for index, spec in enumerate(specs):
        spec = dict(spec)
        if spec["type"] in WEIGHTED_LAYERS:
            if init is not None:
                spec.setdefault("init", init)
            if spec.get("init") == "auto":
                following = next((s for s in specs[index + 1 :] if s["type"] in ("Activation", *WEIGHTED_LAYERS)), None)
                relu_like = (
                    following is not None and following["type"] == "Activation" and following["name"] in RELU_LIKE
                )
                spec["init"] = "he" if relu_like else "glorot"
        resolved.append(spec)
    return resolved


def layer_specs(config: TrainingConfig, input_shape: Sequence[int], n_outputs: int) -> list[dict]:
    """The stack of layers ``config`` describes, each spec complete.

    Parameters
    ----------
    config : TrainingConfig
        The configuration.
    input_shape : sequence of int
        The shape of one example as the network takes it.
    n_outputs : int
        Classes (or regression targets).

    Returns
    -------
    list of dict
        The layer specs as ``Network.specs()`` gives them back.
    """
    return build_network(config, input_shape, n_outputs).specs()


def _stack(config: TrainingConfig, input_shape: Sequence[int], n_outputs: int) -> list[dict]:
    """The specs as the configuration gives them: the perceptron's, or ``layers`` with the output
    layer added; the shift augmentation first."""
    output = _output_activation(config)
    if config.layers is None:
        n_features = int(np.prod(input_shape))
        return mlp_specs(
            n_features,
            config.hidden,
            n_outputs,
            activation=config.activation,
            output=output,
            init=config.init,
            dropout=config.dropout,
            shift=config.shift,
        )
    specs = [{"type": "RandomShift", "max_shift": config.shift}] if config.shift else []
    specs += [dict(spec) for spec in config.layers]
    specs.append({"type": "Dense", "n_out": int(n_outputs)})
    if output != "identity":
        specs.append({"type": "Activation", "name": output})
    return _resolve_auto_init(specs, config.init)


def input_shape(
    config: TrainingConfig, example_shape: Sequence[int], image_shape: Sequence[int] | None
) -> tuple[int, ...]:
    """The shape of one example as the network takes it.

    Parameters
    ----------
    config : TrainingConfig
        The configuration (its ``layers`` decide).
    example_shape : sequence of int
        The shape of one example in the data.
    image_shape : sequence of int or None
        [channels, height, width] when the examples are images, else None.

    Returns
    -------
    tuple of int
        The image shape [channels, height, width] when the stack has a layer that takes images
        (before any Flatten), else ``(n_values,)``, the number of values of one example.

    Raises
    ------
    ValueError
        If the stack has a layer that takes images but the data are not images.
    """
    n_values = int(np.prod(example_shape))
    for index, spec in enumerate(config.layers or []):
        if spec["type"] in IMAGE_LAYERS:
            if image_shape is None:
                where = "starts with" if index == 0 else f"has (as layer {index})"
                raise ValueError(
                    f"layers {where} {spec['type']}, which takes images, but the data are rows of {n_values} "
                    "features, not images; use dense layers (dense(64), relu, ...) for such data"
                )
            return tuple(int(size) for size in image_shape)
        if spec["type"] == "Flatten":
            break
    return (n_values,)


def build_network(config: TrainingConfig, input_shape: Sequence[int], n_outputs: int) -> Network:
    """The network ``config`` describes, its weights drawn from ``config.seed`` (a stack of layer
    specs is built by ``engine.network.build_network``).

    Parameters
    ----------
    config : TrainingConfig
        The configuration.
    input_shape : sequence of int
        The shape of one example as the network takes it.
    n_outputs : int
        Classes (or regression targets).

    Returns
    -------
    Network
        The new network.
    """
    specs = _stack(config, input_shape, int(n_outputs))
    return build_stack(specs, tuple(input_shape), config.loss, config.dtype, config.seed)


# --- optimization -------------------------------------------------------------------------------


def optimizer_settings(config: TrainingConfig) -> tuple[str, dict]:
    """The optimizer's name and its constructor's arguments (PyTorch's names).

    Two configurations with the same settings train alike.

    Parameters
    ----------
    config : TrainingConfig
        The configuration.

    Returns
    -------
    name : str
        The optimizer, e.g. "sgd".
    options : dict
        Its constructor's keyword arguments, e.g. ``{"lr": 0.1, "momentum": 0.0, ...}``.
    """
    name = config.optimizer
    options = {key: getattr(config, key) for key in OPTIMIZER_KEYS[name]}
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    options.update(l1=config.l1, max_grad_norm=config.max_grad_norm)
    return name, options


def build_optimizer(config: TrainingConfig, network: Network) -> Optimizer:
    """The configuration's optimizer over the network's flat parameter buffers.

    Parameters
    ----------
    config : TrainingConfig
        The configuration (``optimizer_settings``).
    network : Network
        The network whose parameters it updates.

    Returns
    -------
    Optimizer
        The new optimizer.
    """
    name, options = optimizer_settings(config)
    return get_optimizer(name, network.flat_parameters(), **options)


def build_schedule(config: TrainingConfig) -> Schedule:
    """The learning-rate schedule of the configuration.

    Parameters
    ----------
    config : TrainingConfig
        The configuration (its ``schedule``).

    Returns
    -------
    Schedule
        f(base_lr, epoch, epochs) -> lr ("plateau" is the constant rate that its callback
        lowers).
    """
    return get_schedule(config.schedule)


def build_callbacks(config: TrainingConfig, monitor: str | None = None) -> dict[str, Callback]:
    """The callbacks the configuration asks for.

    Parameters
    ----------
    config : TrainingConfig
        The configuration (``early_stopping``, ``schedule`` "plateau" and their settings).
    monitor : str or None
        The history column early stopping watches (None: ``config.early_stopping_monitor``);
        for a loss lower is better, for accuracies and scores higher.

    Returns
    -------
    dict of str to Callback
        By the name their state has in a checkpoint: ``early_stopping`` and
        ``reduce_lr_on_plateau``, each only when asked for.
    """
    callbacks: dict[str, Callback] = {}
    if config.early_stopping is not None:
        watched = monitor or config.early_stopping_monitor  # its mode from the name (EarlyStopping's "auto")
        callbacks["early_stopping"] = EarlyStopping(patience=config.early_stopping, monitor=watched)
    if config.schedule == PLATEAU:
        callbacks["reduce_lr_on_plateau"] = ReduceLROnPlateau(
            patience=config.plateau_patience, factor=config.plateau_factor
        )
    return callbacks


def build_trainer(config: TrainingConfig, network: Network, rng=FROM_SEED) -> Trainer:
    """A trainer of ``network`` with the configuration's optimizer, schedule and warm-up.

    Parameters
    ----------
    config : TrainingConfig
        The configuration.
    network : Network
        The network to train.
    rng : int or numpy.random.RandomState or None
        What shuffles the mini-batches: a seed, a ``RandomState``, or None for NumPy's global
        random state, as the chapter's loop uses it; by default ``RandomState(config.seed)``.

    Returns
    -------
    Trainer
        The new trainer.
    """
    return Trainer(
        network,
        build_optimizer(config, network),
        schedule=build_schedule(config),
        rng=np.random.RandomState(config.seed) if rng is FROM_SEED else rng,
        warmup_epochs=config.warmup_epochs,
    )


def build(config: TrainingConfig, input_shape: Sequence[int], n_outputs: int) -> TrainingSetup:
    """Everything a run of ``config`` trains with.

    Parameters
    ----------
    config : TrainingConfig
        The configuration.
    input_shape : sequence of int
        The shape of one example as the network takes it.
    n_outputs : int
        Classes (or regression targets).

    Returns
    -------
    TrainingSetup
        The network, its trainer (optimizer, schedule) and the named callbacks.
    """
    network = build_network(config, input_shape, n_outputs)
    return TrainingSetup(network, build_trainer(config, network), build_callbacks(config))
