"""One training step, every number shown: the backpropagation walk-through.

``walk_through()`` builds the small network of the chapter's Figure 11.11 (2 inputs, 3
hidden units, 2 outputs) with the project's one builder, draws a seeded mini-batch, and
runs one step of training through the engine's own layers and loss, keeping a copy of
every intermediate array on the way:

1. forward:  z^(h) = x^(in) W^(h)T + b^(h),  a^(h) = f(z^(h)),
             z^(out) = a^(h) W^(out)T + b^(out),  a^(out) = sigma(z^(out)) (or softmax), L;
2. backward: delta^(out) = dL/dz^(out),  dL/da^(h) = delta^(out) W^(out),
             delta^(h) = dL/da^(h) * f'(z^(h));
3. the four gradients dL/dW^(out), dL/db^(out), dL/dW^(h), dL/db^(h) as backpropagation
   computed them, beside the same gradients by central finite differences;
4. one SGD step, w := w - eta dL/dw, by the engine's optimizer.

Nothing here computes a forward or backward pass itself: it calls ``Dense.forward``,
``Activation.backward``, the loss's ``value_and_gradient`` and ``SGD.update`` exactly as
``Network.loss_and_gradients`` and the trainer do, and only records what they return (the "code"
of every quantity names the function that computed it). ``format_walkthrough`` renders
the result as text in the chapter's notation; ``Walkthrough.to_dict`` as JSON-ready data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from .engine.gradcheck import numerical_gradient, relative_error
from .engine.layers import Activation, Dense
from .engine.network import Network
from .engine.optim import SGD
from .runs.builder import build_network, build_optimizer
from .runs.config import TrainingConfig
from .training.data import one_hot

__all__ = [
    "RELATIVE_TOLERANCE",
    "Quantity",
    "GradientCheck",
    "Update",
    "Walkthrough",
    "walk_through",
    "format_walkthrough",
]

#: relative error below which backpropagation and finite differences agree (float64)
RELATIVE_TOLERANCE = 1e-6

#: f'(z) in the chapter's notation, written with the layer's own activation a = f(z)
DERIVATIVES: dict[str, str] = {
    "sigmoid": "a{l} (1 - a{l})",
    "tanh": "(1 - a{l}^2)",
    "relu": "[z{l} > 0]",
    "leaky_relu": "[z{l} > 0 ? 1 : 0.01]",
    "identity": "1",
}


def where(function: Callable) -> str:
    """The file and function that define ``function``: "src/neuralnet/layers.py: Dense.forward"."""
    function = getattr(function, "__func__", function)  # a bound method -> its function
    return f"src/{function.__module__.replace('.', '/')}.py: {function.__qualname__}"


@dataclass(frozen=True)
class Quantity:
    """One array of the walk-through: the chapter's variable name, its notation, how and
    where the engine computed it, the names of its dimensions and its value."""

    key: str  # the chapter's variable name, e.g. "z_h"
    symbol: str  # its notation, e.g. "z^(h)"
    equation: str  # e.g. "x^(in) W^(h)T + b^(h)"
    dims: tuple[str, ...]  # e.g. ("n_examples", "n_hidden")
    code: str  # e.g. "src/neuralnet/layers.py: Dense.forward"
    value: np.ndarray

    def to_dict(self) -> dict:
        """The quantity as JSON-ready data (its value as nested lists of floats)."""
        return {
            "symbol": self.symbol,
            "equation": self.equation,
            "dims": list(self.dims),
            "shape": list(self.value.shape),
            "code": self.code,
            "value": self.value.tolist(),
        }


@dataclass(frozen=True)
class GradientCheck:
    """One parameter's gradient: backpropagation's (``analytic``) and central finite
    differences' (``numeric``), and their relative error ||a - n|| / (||a|| + ||n||)."""

    key: str  # the chapter's name, e.g. "d_loss__dw_out"
    symbol: str  # "dL/dW^(out)"
    equation: str  # "delta^(out)T a^(h)"
    parameter: str  # "weight_out"
    entry: str  # the notation of one entry, "w^(out)" (indexed w_{j,k}^(out))
    dims: tuple[str, ...]
    code: str
    analytic: np.ndarray
    numeric: np.ndarray
    relative_error: float

    @property
    def max_abs_difference(self) -> float:
        """The largest absolute difference between an analytic and a numeric entry."""
        return float(np.max(np.abs(self.analytic - self.numeric), initial=0.0))

    def to_dict(self) -> dict:
        """The check as JSON-ready data (the gradients as nested lists of floats)."""
        return {
            "symbol": self.symbol,
            "equation": self.equation,
            "parameter": self.parameter,
            "dims": list(self.dims),
            "shape": list(self.analytic.shape),
            "code": self.code,
            "analytic": self.analytic.tolist(),
            "numeric": self.numeric.tolist(),
            "relative_error": self.relative_error,
            "max_abs_difference": self.max_abs_difference,
        }


@dataclass(frozen=True)
class Update:
    """One parameter before and after the SGD step w := w - eta dL/dw."""

    parameter: str  # "weight_out"
    symbol: str  # "W^(out)"
    entry: str  # "w^(out)"
    gradient: str  # "dL/dW^(out)"
    before: np.ndarray
    after: np.ndarray

    def to_dict(self) -> dict:
        """The update as JSON-ready data (the values as nested lists of floats)."""
        return {
            "symbol": self.symbol,
            "shape": list(self.before.shape),
            "before": self.before.tolist(),
            "after": self.after.tolist(),
        }


@dataclass
class Walkthrough:
    """Everything one training step computed (see ``walk_through``)."""

    settings: dict
    layers: list[str]
    inputs: list[Quantity]
    labels: np.ndarray
    parameters: list[Quantity]
    forward: list[Quantity]
    loss: Quantity
    backward: list[Quantity]
    gradients: list[GradientCheck]
    updates: list[Update]
    loss_after: float
    network: Network = field(repr=False)  # the engine network, after the step

    @property
    def max_relative_error(self) -> float:
        """The largest relative error of the four gradient checks."""
        return max(check.relative_error for check in self.gradients)

    @property
    def rounding_level(self) -> float:
        """The size of the rounding error in a central difference: L is known to about
        machine epsilon times |L|, and the difference of two such values is divided by 2 eps
        (with a factor 10 to spare). A gradient whose entries are all about this small can
        show a large *relative* error although backpropagation is right."""
        return 10 * np.finfo(np.float64).eps * max(1.0, abs(float(self.loss.value))) / self.settings["eps"]

    @property
    def agrees(self) -> bool:
        """Backpropagation and finite differences agree: for every parameter, a relative
        error below ``RELATIVE_TOLERANCE``, or differences no larger than the rounding error."""
        return all(
            check.relative_error < RELATIVE_TOLERANCE or check.max_abs_difference <= self.rounding_level
            for check in self.gradients
        )

    def __getitem__(self, key: str):
        """Any recorded quantity by the chapter's name: "z_h", "delta_out", "d_loss__dw_out"..."""
        items: tuple[Quantity | GradientCheck, ...] = (
            *self.inputs,
            *self.parameters,
            *self.forward,
            self.loss,
            *self.backward,
            *self.gradients,
        )
        for item in items:
            if item.key == key:
                return item
        raise KeyError(key)

    def to_dict(self) -> dict:
        """The walk-through as JSON-ready data (nested lists of floats)."""
        return {
            "network": {**self.settings, "layers": list(self.layers)},
            "input": {**{q.key: q.to_dict() for q in self.inputs}, "labels": self.labels.tolist()},
            "parameters": {q.key: q.to_dict() for q in self.parameters},
            "forward": {**{q.key: q.to_dict() for q in self.forward}, "loss": self._loss_dict()},
            "backward": {q.key: q.to_dict() for q in self.backward},
            "gradients": {g.key: g.to_dict() for g in self.gradients},
            "gradient_check": {
                "max_relative_error": self.max_relative_error,
                "relative_tolerance": RELATIVE_TOLERANCE,
                "rounding_level": self.rounding_level,
                "agree": self.agrees,
            },
            "sgd_step": {
                "rule": "w := w - eta dL/dw",
                "lr": self.settings["lr"],
                "code": where(SGD.update),
                "parameters": {u.parameter: u.to_dict() for u in self.updates},
                "loss_before": float(self.loss.value),
                "loss_after": self.loss_after,
            },
        }

    def _loss_dict(self) -> dict:
        return {
            "symbol": self.loss.symbol,
            "equation": self.loss.equation,
            "code": self.loss.code,
            "value": float(self.loss.value),
        }


# -- the walk-through ------------------------------------------------------------------------


def _check_positive(name: str, value, kind=int):
    """value as a positive int (or float), or a ValueError naming it."""
    expected = "a positive integer" if kind is int else "a positive number"
    numeric = (int, np.integer) if kind is int else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, numeric) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return kind(value)


def _draw_batch(seed: int, n_examples: int, n_features: int, n_classes: int):
    """x in [-1, 1) (the range of the chapter's scaled pixels) and integer labels; drawn from
    a generator of their own, so the weights are the same for every --examples."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(n_examples, n_features))
    labels = rng.integers(0, n_classes, size=n_examples)
    return x, labels


def _layer_pattern(network: Network) -> tuple[Dense, Activation, Dense, Activation | None]:
    layers = network.layers
    ok = (
        len(layers) in (3, 4)
        and isinstance(layers[0], Dense)
        and isinstance(layers[1], Activation)
        and isinstance(layers[2], Dense)
        and (len(layers) == 3 or isinstance(layers[3], Activation))
    )
    if not ok:  # the builder changed the stack: the labels below would be wrong
        raise RuntimeError(f"expected Dense, Activation, Dense[, Activation], got {network.layers}")
    # the types checked above
    return (
        cast(Dense, layers[0]),
        cast(Activation, layers[1]),
        cast(Dense, layers[2]),
        cast(Activation, layers[3]) if len(layers) == 4 else None,
    )


def _describe(layer) -> str:
    if isinstance(layer, Dense):
        return f"Dense({layer.n_in} -> {layer.n_out})"
    return f"Activation({layer.name})"


EX_F, EX_H, EX_OUT = ("n_examples", "n_features"), ("n_examples", "n_hidden"), ("n_examples", "n_classes")


def walk_through(
    hidden: int = 3,
    *,
    activation: str = "sigmoid",
    loss: str = "mse",
    seed: int = 123,
    lr: float = 0.1,
    examples: int = 1,
    n_features: int = 2,
    n_classes: int = 2,
    eps: float = 1e-6,
) -> Walkthrough:
    """Run one training step of an ``n_features``-``hidden``-``n_classes`` MLP and record every quantity.

    The step runs in float64 on a seeded mini-batch, with plain SGD. Weights come from the
    builder with ``seed`` (the chapter's N(0, 0.1) and zero biases); the batch, x in [-1, 1)
    and integer labels, from ``np.random.default_rng(seed)``.

    Parameters
    ----------
    hidden : int
        Hidden units (a positive integer).
    activation : str
        The hidden layer's activation (any engine activation but softmax).
    loss : str
        "mse" (sigmoid outputs, the chapter's L = (1/n) sum_i sum_k (a^(out) - y)^2) or
        "cross-entropy" (softmax fused with the log-loss, the network outputs z^(out)).
    seed : int
        Seed of the weights and of the mini-batch.
    lr : float
        The learning rate eta of the SGD step.
    examples : int
        Examples in the mini-batch (a positive integer).
    n_features : int
        Inputs (a positive integer).
    n_classes : int
        Outputs (a positive integer).
    eps : float
        Step of the central finite differences (a positive number).

    Returns
    -------
    Walkthrough
        Every input, parameter, forward and backward quantity, the gradient checks and the
        update.

    Raises
    ------
    ValueError
        For a size or ``eps`` that is not positive, or the softmax activation.
    """
    hidden = _check_positive("hidden", hidden)
    examples = _check_positive("examples", examples)
    n_features = _check_positive("n_features", n_features)
    n_classes = _check_positive("n_classes", n_classes)
    eps = _check_positive("eps", eps, kind=float)
    if str(activation).lower() == "softmax":
        raise ValueError(
            "activation 'softmax' is for the output layer; choose the hidden layer's "
            "activation from sigmoid, tanh, relu, leaky_relu, identity"
        )
    config = TrainingConfig(
        hidden=[hidden], activation=activation, loss=loss, init="normal", dtype="float64", lr=lr, seed=seed
    )  # plain SGD, as in the chapter
    network = build_network(config, (n_features,), n_classes)
    optimizer = build_optimizer(config, network)
    x, labels = _draw_batch(seed, examples, n_features, n_classes)
    y = one_hot(labels, n_classes, dtype=np.float64)
    inputs = [
        Quantity("x", "x^(in)", "seeded input in [-1, 1)", EX_F, where(_draw_batch), x.copy()),
        Quantity("y", "y", "one-hot of the labels", EX_OUT, where(one_hot), y.copy()),
    ]
    parameters = _record_parameters(network)
    forward, loss_q, grad_output = _forward(network, x, y)
    backward = _backward(network, grad_output)
    gradients = _check_gradients(network, x, y, eps)
    optimizer.step()  # w := w - lr dL/dw, with the gradients backpropagation wrote
    current = {p.key: p for p in _record_parameters(network)}
    updates = [
        Update(p.key, p.symbol, g.entry, g.symbol, before=p.value, after=current[p.key].value)
        for p in parameters
        for g in gradients
        if g.parameter == p.key
    ]
    _, act_h, _, act_out = _layer_pattern(network)
    settings = {
        "n_features": n_features,
        "n_hidden": hidden,
        "n_classes": n_classes,
        "n_examples": examples,
        "activation": act_h.name,
        "output_activation": act_out.name if act_out is not None else "softmax",
        "loss": network.loss.name,
        "seed": seed,
        "lr": float(lr),
        "eps": eps,
        "dtype": "float64",
    }
    return Walkthrough(
        settings,
        [_describe(layer) for layer in network.layers],
        inputs,
        labels,
        parameters,
        forward,
        loss_q,
        backward,
        gradients,
        updates,
        loss_after=float(network.loss.value(network.forward(x), y)),
        network=network,
    )


def _record_parameters(network: Network) -> list[Quantity]:
    """Copies of W^(h), b^(h), W^(out), b^(out) (the chapter's attribute names)."""
    dense_h, _, dense_out, _ = _layer_pattern(network)
    init = where(Dense.__init__)
    return [
        Quantity("weight_h", "W^(h)", "N(0, 0.1)", ("n_hidden", "n_features"), init, dense_h.weight.copy()),
        Quantity("bias_h", "b^(h)", "zeros", ("n_hidden",), init, dense_h.bias.copy()),
        Quantity("weight_out", "W^(out)", "N(0, 0.1)", ("n_classes", "n_hidden"), init, dense_out.weight.copy()),
        Quantity("bias_out", "b^(out)", "zeros", ("n_classes",), init, dense_out.bias.copy()),
    ]


def _forward(network: Network, x: np.ndarray, y: np.ndarray):
    """Network.forward one layer at a time, then the loss as Network.loss_and_gradients gets it.

    Every array is copied as soon as it exists, because the activation layers work in place
    (a^(h) overwrites z^(h)). Returns the forward quantities, the loss and dL/d(output).
    """
    dense_h, act_h, dense_out, act_out = _layer_pattern(network)
    loss_fn = network.loss
    z_h = dense_h.forward(x, training=True)  # [n_examples, n_hidden]
    forward = [Quantity("z_h", "z^(h)", "x^(in) W^(h)T + b^(h)", EX_H, where(Dense.forward), z_h.copy())]
    a_h = act_h.forward(z_h, training=True)  # [n_examples, n_hidden]
    forward.append(Quantity("a_h", "a^(h)", f"{act_h.name}(z^(h))", EX_H, where(act_h.function.forward), a_h.copy()))
    z_out = dense_out.forward(a_h, training=True)  # [n_examples, n_classes]
    forward.append(Quantity("z_out", "z^(out)", "a^(h) W^(out)T + b^(out)", EX_OUT, where(Dense.forward), z_out.copy()))
    if act_out is None:  # cross-entropy: the network's output is z^(out), the loss applies softmax
        output = z_out
        forward.append(
            Quantity(
                "a_out",
                "a^(out)",
                "softmax(z^(out))",
                EX_OUT,
                where(loss_fn.probabilities),
                loss_fn.probabilities(z_out),
            )
        )
        equation = "(1/n) sum_i [log sum_k exp(z_k^(out)) - sum_k y_k z_k^(out)] = -(1/n) sum_i sum_k y log a^(out)"
    else:
        output = act_out.forward(z_out, training=True)
        forward.append(
            Quantity(
                "a_out", "a^(out)", f"{act_out.name}(z^(out))", EX_OUT, where(act_out.function.forward), output.copy()
            )
        )
        equation = "(1/n) sum_i sum_k (a^(out) - y)^2"
    value, grad_output = loss_fn.value_and_gradient(output, y)
    loss_q = Quantity("loss", "L", equation, (), where(loss_fn.value_and_gradient), np.float64(value))
    return forward, loss_q, grad_output


def _backward(network: Network, grad_output: np.ndarray) -> list[Quantity]:
    """Network.backward one layer at a time, from dL/d(output) back to the hidden layer,
    copying each result before the next (in-place) layer overwrites it. Fills the Dense
    layers' grad_weight and grad_bias, as a training step does."""
    dense_h, act_h, dense_out, act_out = _layer_pattern(network)
    code = where(network.loss.value_and_gradient)
    if act_out is None:  # cross-entropy: the loss's gradient is already dL/dz^(out)
        delta_out = grad_output
        backward = [
            Quantity("delta_out", "delta^(out)", "dL/dz^(out) = (a^(out) - y) / n", EX_OUT, code, delta_out.copy())
        ]
    else:
        backward = [Quantity("d_loss__d_a_out", "dL/da^(out)", "2 (a^(out) - y) / n", EX_OUT, code, grad_output.copy())]
        delta_out = act_out.backward(grad_output)  # [n_examples, n_classes]
        backward.append(
            Quantity(
                "delta_out",
                "delta^(out)",
                f"dL/da^(out) * {DERIVATIVES[act_out.name].format(l='^(out)')}",
                EX_OUT,
                where(act_out.function.backward),
                delta_out.copy(),
            )
        )
    d_loss__a_h = dense_out.backward(delta_out)  # [n_examples, n_hidden]; fills dL/dW^(out), dL/db^(out)
    backward.append(
        Quantity("d_loss__a_h", "dL/da^(h)", "delta^(out) W^(out)", EX_H, where(Dense.backward), d_loss__a_h.copy())
    )
    delta_h = act_h.backward(d_loss__a_h)  # [n_examples, n_hidden]
    backward.append(
        Quantity(
            "delta_h",
            "delta^(h)",
            f"dL/da^(h) * {DERIVATIVES[act_h.name].format(l='^(h)')}",
            EX_H,
            where(act_h.function.backward),
            delta_h.copy(),
        )
    )
    dense_h.backward(delta_h, need_input_grad=False)  # fills dL/dW^(h), dL/db^(h)
    return backward


#: the four gradients in the chapter's order: key, symbol, equation, parameter, notation of
#: one entry, dims, index of the Dense layer in the network, its attribute
GRADIENTS = [
    (
        "d_loss__dw_out",
        "dL/dW^(out)",
        "delta^(out)T a^(h)",
        "weight_out",
        "w^(out)",
        ("n_classes", "n_hidden"),
        2,
        "weight",
    ),
    ("d_loss__db_out", "dL/db^(out)", "sum_i delta^(out)", "bias_out", "b^(out)", ("n_classes",), 2, "bias"),
    ("d_loss__dw_h", "dL/dW^(h)", "delta^(h)T x^(in)", "weight_h", "w^(h)", ("n_hidden", "n_features"), 0, "weight"),
    ("d_loss__db_h", "dL/db^(h)", "sum_i delta^(h)", "bias_h", "b^(h)", ("n_hidden",), 0, "bias"),
]


def _check_gradients(network: Network, x: np.ndarray, y: np.ndarray, eps: float) -> list[GradientCheck]:
    """The gradients backpropagation wrote, beside central finite differences of the engine's
    own loss (``numerical_gradient`` restores every weight exactly and touches no gradient)."""

    def loss_value() -> float:
        return network.loss.value(network.forward(x), y)

    checks = []
    for key, symbol, equation, parameter, entry, dims, index, attribute in GRADIENTS:
        layer = network.layers[index]
        analytic = getattr(layer, "grad_" + attribute).copy()
        numeric = numerical_gradient(loss_value, getattr(layer, attribute), eps)
        checks.append(
            GradientCheck(
                key,
                symbol,
                equation,
                parameter,
                entry,
                dims,
                where(Dense.backward),
                analytic,
                numeric,
                relative_error(analytic, numeric),
            )
        )
    return checks


# -- text --------------------------------------------------------------------------------------


def _shape(dims: tuple[str, ...], value: np.ndarray) -> str:
    return f"[{', '.join(dims)}] = [{', '.join(map(str, value.shape))}]"


def _matrix(value: np.ndarray, indent: str) -> str:
    text = np.array2string(
        np.asarray(value), precision=6, floatmode="fixed", suppress_small=False, max_line_width=100, sign=" "
    )
    return "\n".join(indent + line for line in text.splitlines())


def _entry_name(entry: str, index: tuple[int, ...]) -> str:
    # the chapter's 1-based indices: w_{1,1}^(out), b_{2}^(h)
    letter, layer = entry.split("^", 1)
    return f"{letter}_{{{','.join(str(i + 1) for i in index)}}}^{layer}"


def _block(q: Quantity, label: str) -> list[str]:
    return [f"  {label}   {_shape(q.dims, q.value)}   {q.code}", _matrix(q.value, "      ")]


def _format_gradients(walk: Walkthrough) -> list[str]:
    lines = [
        f"3. Gradients: backpropagation beside central finite differences "
        f"(L(w + eps) - L(w - eps)) / (2 eps), eps = {walk.settings['eps']:g}"
    ]
    for g in walk.gradients:
        lines.append(
            f"  {g.symbol} = {g.equation}   {_shape(g.dims, g.analytic)}   relative error {g.relative_error:.1e}"
        )
        lines.append(f"      {'entry':<16}{'backpropagation':>20}{'finite differences':>22}{'|difference|':>14}")
        for index in np.ndindex(g.analytic.shape):
            a, n = g.analytic[index], g.numeric[index]
            lines.append(f"      {_entry_name(g.entry, index):<16}{a:>20.12f}{n:>22.12f}{abs(a - n):>14.1e}")
    worst = max(walk.gradients, key=lambda g: g.relative_error)
    if worst.relative_error < RELATIVE_TOLERANCE:
        lines.append(
            f"  largest relative error {worst.relative_error:.1e} (below {RELATIVE_TOLERANCE:g}): "
            "backpropagation and finite differences agree"
        )
    elif walk.agrees:
        lines.append(
            f"  largest relative error {worst.relative_error:.1e}, in {worst.symbol}, whose entries are "
            f"nearly zero: its largest |difference| {worst.max_abs_difference:.1e} is below the "
            f"finite differences' rounding error (~{walk.rounding_level:.0e}), so they agree"
        )
    else:
        lines.append(
            f"  largest relative error {worst.relative_error:.1e}, in {worst.symbol}: backpropagation "
            "and finite differences DISAGREE, a derivative is wrong"
        )
    return lines


def _format_updates(walk: Walkthrough) -> list[str]:
    lr = walk.settings["lr"]
    lines = [f"4. SGD step: w := w - eta dL/dw, eta = {lr:g}   {where(SGD.update)}"]
    for u in walk.updates:
        lines.append(f"  {u.symbol} := {u.symbol} - {lr:g} {u.gradient}")
        lines.append(f"      {'entry':<16}{'before':>20}{'after':>20}")
        for index in np.ndindex(u.before.shape):
            lines.append(f"      {_entry_name(u.entry, index):<16}{u.before[index]:>20.12f}{u.after[index]:>20.12f}")
    lines.append(
        f"  L on the same examples: {float(walk.loss.value):.12f} before the step, {walk.loss_after:.12f} after"
    )
    return lines


def format_walkthrough(walk: Walkthrough) -> str:
    """The walk-through as text, in the chapter's notation."""
    s = walk.settings
    lines = [
        "One training step of the chapter's Figure 11.11 network, every number shown",
        f"  {s['n_features']} inputs -> {s['n_hidden']} hidden units ({s['activation']}) -> "
        f"{s['n_classes']} outputs ({s['output_activation']}), loss: {s['loss']}",
        f"  engine layers: {', '.join(walk.layers)}",
        f"  {s['n_examples']} example{'s' if s['n_examples'] != 1 else ''} drawn with seed {s['seed']}, "
        f"{s['dtype']}, learning rate eta = {s['lr']:g}",
        "",
        "Input",
    ]
    for q in walk.inputs:
        lines += _block(q, f"{q.symbol} = {q.equation}" if q.key == "y" else f"{q.symbol:<8}")
    lines.append(f"  labels   {walk.labels.tolist()}")
    lines += ["", "Parameters before the step (the chapter's initialization: N(0, 0.1) weights, zero biases)"]
    for q in walk.parameters:
        lines += _block(q, f"{q.symbol:<8}")
    lines += ["", "1. Forward pass"]
    for q in walk.forward:
        lines += _block(q, f"{q.symbol} = {q.equation}")
    lines.append(f"  L = {walk.loss.equation}")
    lines.append(f"    = {float(walk.loss.value):.12f}   {walk.loss.code}")
    lines += ["", "2. Backward pass (the chain rule, from the loss back to the hidden layer)"]
    for q in walk.backward:
        lines += _block(q, f"{q.symbol} = {q.equation}")
    lines += ["", *_format_gradients(walk), "", *_format_updates(walk)]
    return "\n".join(lines)
