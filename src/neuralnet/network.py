"""A network: a stack of layers and the loss at its end.

``forward`` runs the layers in order, ``backward`` runs them in reverse from the loss's
gradient (skipping dL/dx for the input, which nothing uses), and ``parameters`` lists
what the optimizer updates. ``build_mlp`` makes the multilayer perceptrons the rest of the
project uses, from the chapter's 784-50-10 sigmoid network to deep ReLU networks.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Iterator, Sequence

import numpy as np

from .activations import get_activation
from .layers import INITIALIZERS, Activation, Dense, Dropout, Layer, Parameter, RandomShift
from .losses import Loss, get_loss

__all__ = ["Network", "Architecture", "build_mlp", "layer_plan"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


class Network:
    """Layers applied in order, trained against a loss.

    All parameters live in one flat array, and all gradients in another; each layer's
    ``weight``, ``bias``, ``grad_weight``, ... are views into them. An optimizer can then
    update every parameter with a few whole-array operations (``flat_parameters()``),
    and a snapshot of the network is one copy (``flat_values``).
    """

    def __init__(self, layers: Sequence[Layer], loss: Loss | str, dtype=np.float32):
        self.layers = list(layers)
        self.loss = get_loss(loss)
        self.dtype = check_float_dtype(dtype)
        self._flatten_parameters()
        # backward stops at the first layer with parameters: nothing needs dL/d(input)
        self._first_trainable = next((i for i, layer in enumerate(self.layers) if layer.parameters()), 0)

    def _flatten_parameters(self) -> None:
        records = [(layer, p) for layer in self.layers for p in layer.parameters()]
        for _, p in records:
            if p.value.dtype != self.dtype:
                raise ValueError(f"parameter {p.name} is {p.value.dtype}, but the network is {self.dtype}")
        total = sum(p.value.size for _, p in records)
        self.flat_values = np.empty(total, dtype=self.dtype)
        self.flat_grads = np.zeros(total, dtype=self.dtype)
        self.flat_decay = np.zeros(total, dtype=bool)
        offset = 0
        for layer, p in records:
            stop = offset + p.value.size
            layer.bind_parameter(p.name, self.flat_values[offset:stop], self.flat_grads[offset:stop])
            self.flat_decay[offset:stop] = p.decay
            offset = stop

    def flat_parameters(self) -> list[Parameter]:
        """Every parameter as one ``Parameter`` (for optimizers: fewer, larger operations)."""
        return [Parameter("all", self.flat_values, self.flat_grads, decay=self.flat_decay)]

    def clone(self) -> "Network":
        """An independent copy: same layers, same weights, its own buffers."""
        return Network(copy.deepcopy(self.layers), copy.deepcopy(self.loss), self.dtype)

    # -- the two passes ----------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The network's output for a batch x [n, n_features] (logits or activations)."""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad_output: np.ndarray) -> None:
        """Backpropagate dL/d(output) through every layer, filling the gradients."""
        grad = grad_output
        first = self._first_trainable
        for index in range(len(self.layers) - 1, first - 1, -1):
            grad = self.layers[index].backward(grad, need_input_grad=index > first)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One forward and backward pass on a batch, filling the gradients; returns the
        batch's mean loss (checked by the caller: it may be NaN if training diverged)."""
        value, grad = self.loss.value_and_gradient(self.forward(x, training=True), y)
        self.backward(grad)
        return value

    # -- parameters ----------------------------------------------------------------------
    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for index, layer in enumerate(self.layers):
            for p in layer.parameters():
                yield f"layers.{index}.{p.name}", p

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, by name ("layers.0.weight", ...)."""
        return {name: p.value.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters in place; refuses missing, extra or mis-shaped entries."""
        named = dict(self.named_parameters())
        missing = sorted(set(named) - set(state))
        unexpected = sorted(set(state) - set(named))
        if missing or unexpected:
            raise ValueError(f"state does not fit this network: missing {missing}, unexpected {unexpected}")
        for name, p in named.items():
            value = np.asarray(state[name])
            if value.shape != p.value.shape:
                raise ValueError(f"{name} has shape {value.shape}, but the network expects {p.value.shape}")
            np.copyto(p.value, value, casting="same_kind")

    @property
    def n_features(self) -> int:
        return next(layer.n_in for layer in self.layers if isinstance(layer, Dense))

    @property
    def n_outputs(self) -> int:
        return [layer.n_out for layer in self.layers if isinstance(layer, Dense)][-1]

    # -- prediction ------------------------------------------------------------------------
    def predict_output(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """The network's raw output for all of X, computed in batches (inference mode)."""
        X = self.as_input(X)
        if X.shape[0] <= batch_size:
            return self.forward(X)
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        for start in range(0, X.shape[0], batch_size):
            out[start:start + batch_size] = self.forward(X[start:start + batch_size])
        return out

    def predict_proba(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Class probabilities as the loss defines them (softmax for cross-entropy)."""
        return self.loss.probabilities(self.predict_output(X, batch_size))

    def predict(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Index of the largest output for each example."""
        return np.argmax(self.predict_output(X, batch_size), axis=1)

    def as_input(self, X) -> np.ndarray:
        """X as a 2-D array in the network's dtype with the right number of features."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D [n_examples, n_features], got shape {X.shape}")
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features, but the network expects {self.n_features}")
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        return X


@dataclass
class Architecture:
    """Everything needed to rebuild an MLP, as JSON-ready data."""

    n_features: int
    hidden: list[int]
    n_outputs: int
    activation: str = "sigmoid"
    output_activation: str | None = None  # None: the loss's own (sigmoid for mse)
    loss: str = "mse"
    init: str = "normal"
    dropout: float = 0.0
    shift: int = 0  # training-time augmentation: random shifts of the input images, in pixels
    dtype: str = "float32"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Architecture":
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown architecture fields {unknown}")
        return cls(**data)


def _check_architecture(arch: Architecture) -> tuple[np.dtype, Loss, str]:
    """Validate ``arch``; return its dtype, loss and output activation."""
    dtype = check_float_dtype(arch.dtype)
    hidden = list(arch.hidden)
    if any(isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden):
        raise ValueError(f"hidden layer sizes must be positive integers, got {hidden}")
    for name, value in (("n_features", arch.n_features), ("n_outputs", arch.n_outputs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    get_activation(arch.activation)
    if arch.init not in INITIALIZERS:
        raise ValueError(f"unknown initialiser {arch.init!r}; expected one of {sorted(INITIALIZERS)}")
    if not 0.0 <= float(arch.dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {arch.dropout!r}")
    if isinstance(arch.shift, bool) or not isinstance(arch.shift, (int, np.integer)) or arch.shift < 0:
        raise ValueError(f"shift must be a whole number of pixels >= 0, got {arch.shift!r}")
    if arch.shift and round(np.sqrt(arch.n_features)) ** 2 != arch.n_features:
        raise ValueError(f"shift needs square images, but n_features is {arch.n_features}")
    loss = get_loss(arch.loss)
    output_activation = arch.output_activation or loss.output_activation
    get_activation(output_activation)
    if loss.output_activation == "identity" and output_activation != "identity":
        raise ValueError(
            f"the {loss.name} loss applies softmax itself and takes the logits; "
            f"output_activation must be 'identity', got {output_activation!r}")
    return dtype, loss, output_activation


def layer_plan(arch: Architecture) -> list[tuple]:
    """The layers ``build_mlp`` makes, in order, as plain tuples: ("shift", pixels),
    ("dense", n_in, n_out), ("activation", name), ("dropout", p). Index k of the plan is
    layer k of the network, whose parameters are named ``layers.k.weight``/``bias``."""
    _, _, output_activation = _check_architecture(arch)
    plan: list[tuple] = [("shift", int(arch.shift))] if arch.shift else []
    sizes = [int(arch.n_features), *(int(h) for h in arch.hidden)]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        plan += [("dense", n_in, n_out), ("activation", arch.activation)]
        if arch.dropout:
            plan.append(("dropout", float(arch.dropout)))
    plan.append(("dense", sizes[-1], int(arch.n_outputs)))
    if output_activation != "identity":
        plan.append(("activation", output_activation))
    return plan


def build_mlp(arch: Architecture, random_seed: int | None = 123) -> Network:
    """A multilayer perceptron: [Dense, activation, (Dropout)] per hidden layer, then Dense
    and the output activation that the loss expects (see ``layer_plan``).

    The weights are drawn from one ``np.random.RandomState(random_seed)`` layer by layer, in
    order, as the chapter draws ``weight_h`` and then ``weight_out``; dropout masks come from
    a separate generator seeded from the same seed, and ``shift`` > 0 puts a ``RandomShift``
    augmentation layer (with a third, independent generator) in front.
    """
    dtype, loss, _ = _check_architecture(arch)
    rng = np.random.RandomState(random_seed)
    dropout_rng = np.random.default_rng(random_seed)
    # the shift's own stream, independent of dropout's: child 0 of the seed's SeedSequence
    shift_rng = np.random.default_rng(np.random.SeedSequence(random_seed).spawn(1)[0]) if arch.shift else None
    make = {
        "shift": lambda pixels: RandomShift(pixels, rng=shift_rng),
        "dense": lambda n_in, n_out: Dense(n_in, n_out, init=arch.init, rng=rng, dtype=dtype),
        "activation": lambda name: Activation(name, inplace=True),
        "dropout": lambda p: Dropout(p, rng=dropout_rng),
    }
    layers: list[Layer] = [make[kind](*options) for kind, *options in layer_plan(arch)]
    return Network(layers, loss, dtype=dtype)
