"""One training step of the smallest convolution, every number shown: a 3 x 3 filter on a 5 x 5 image.

``walk_through_convolution()`` builds, with the engine's own layers, the stack

    Conv2D(1 -> 1, 3x3), sigmoid, Flatten      on one seeded 5 x 5 image x in [-1, 1)

and trains it one step on the chapter's MSE loss against a seeded 3 x 3 target y in [0, 1):

1. forward:  z[i, j] = sum_{u, v} W[u, v] x[i + u, j + v] + b     (i, j, u, v = 0, 1, 2)
             a = sigmoid(z),  L = (1/n) sum_{i, j} (a[i, j] - y[i, j])^2   (n = 1 example)
2. backward: delta = dL/dz = 2 (a - y) a (1 - a)
             dL/dW[u, v] = sum_{i, j} delta[i, j] x[i + u, j + v]   (x correlated with delta)
             dL/db = sum_{i, j} delta[i, j]
             dL/dx[p, q] = sum_{u, v} delta[p - u, q - v] W[u, v]   (delta convolved with W)
3. the gradients beside central finite differences of the same loss;
4. one SGD step w := w - eta dL/dw.

As in ``neuralnet.explain``, nothing here computes a pass itself: it calls ``Conv2D.forward``,
``Activation.backward``, ``Conv2D.backward``, the loss and ``SGD.update``, and records what they
return.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from .engine.conv import Conv2D, Flatten
from .engine.gradcheck import numerical_gradient, relative_error
from .engine.layers import Activation
from .engine.network import Network, build_network
from .engine.optim import SGD
from .explain import RELATIVE_TOLERANCE, GradientCheck, Quantity, Update, _matrix, where
from .runs.builder import build_optimizer
from .runs.config import TrainingConfig

__all__ = ["ConvolutionWalkthrough", "walk_through_convolution", "format_convolution_walkthrough"]

SIDE, KERNEL = 5, 3
OUT = SIDE - KERNEL + 1
IMAGE, FILTER, MAP = ("height", "width"), ("kh", "kw"), ("out_height", "out_width")


@dataclass
class ConvolutionWalkthrough:
    """Everything the one step computed (see ``walk_through_convolution``)."""

    settings: dict
    inputs: list[Quantity]
    parameters: list[Quantity]
    forward: list[Quantity]
    loss: Quantity
    backward: list[Quantity]
    gradients: list[GradientCheck]
    updates: list[Update]
    loss_after: float
    network: Network

    @property
    def max_relative_error(self) -> float:
        """The largest relative error of the two gradient checks."""
        return max(check.relative_error for check in self.gradients)

    def __getitem__(self, key: str):
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
            "network": {**self.settings, "layers": ["Conv2D(1 -> 1, 3x3)", "sigmoid", "Flatten"]},
            "input": {q.key: q.to_dict() for q in self.inputs},
            "parameters": {q.key: q.to_dict() for q in self.parameters},
            "forward": {
                **{q.key: q.to_dict() for q in self.forward},
                "loss": {
                    "symbol": self.loss.symbol,
                    "equation": self.loss.equation,
                    "code": self.loss.code,
                    "value": float(self.loss.value),
                },
            },
            "backward": {q.key: q.to_dict() for q in self.backward},
            "gradients": {g.key: g.to_dict() for g in self.gradients},
            "gradient_check": {
                "max_relative_error": self.max_relative_error,
                "relative_tolerance": RELATIVE_TOLERANCE,
                "agree": self.max_relative_error < RELATIVE_TOLERANCE,
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


def walk_through_convolution(*, seed: int = 123, lr: float = 0.1, eps: float = 1e-6) -> ConvolutionWalkthrough:
    """Train the 3 x 3 filter one SGD step on a seeded 5 x 5 image, in float64, recording every quantity.

    The filter is drawn from the chapter's N(0, 0.1), the bias is 0; the image x in [-1, 1)
    and the 3 x 3 target y in [0, 1) come from ``np.random.default_rng(seed)``.

    Parameters
    ----------
    seed : int
        Seed of the filter, the image and the target.
    lr : float
        The learning rate eta of the SGD step.
    eps : float
        Step of the central finite differences.

    Returns
    -------
    ConvolutionWalkthrough
        Every input, parameter, forward and backward quantity, the gradient checks and the
        update.
    """
    specs: list[dict] = [
        {"type": "Conv2D", "out_channels": 1, "kernel_size": KERNEL, "init": "normal"},
        {"type": "Activation", "name": "sigmoid"},
        {"type": "Flatten"},
    ]
    network = build_network(specs, (1, SIDE, SIDE), "mse", "float64", seed=seed)
    # the stack of the specs above
    conv, activation, flatten = cast(tuple[Conv2D, Activation, Flatten], tuple(network.layers))
    optimizer = build_optimizer(TrainingConfig(lr=lr), network)  # plain SGD, as in the chapter
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=(1, 1, SIDE, SIDE))
    y = rng.uniform(0.0, 1.0, size=(1, OUT * OUT))
    inputs = [
        Quantity("x", "x", "seeded image in [-1, 1)", IMAGE, where(walk_through_convolution), x[0, 0].copy()),
        Quantity("y", "y", "seeded target in [0, 1)", MAP, where(walk_through_convolution), y.reshape(OUT, OUT).copy()),
    ]
    parameters = _parameters(conv)

    z = conv.forward(x, training=True)  # [1, 1, 3, 3]
    forward = [
        Quantity(
            "z", "z", "z[i, j] = sum_{u, v} W[u, v] x[i + u, j + v] + b", MAP, where(Conv2D.forward), z[0, 0].copy()
        )
    ]
    a = activation.forward(z, training=True)
    forward.append(Quantity("a", "a", "sigmoid(z)", MAP, where(activation.function.forward), a[0, 0].copy()))
    output = flatten.forward(a, training=True)  # [1, 9]
    value, grad_output = network.loss.value_and_gradient(output, y)
    loss = Quantity(
        "loss",
        "L",
        "(1/n) sum_{i, j} (a[i, j] - y[i, j])^2",
        (),
        where(network.loss.value_and_gradient),
        np.float64(value),
    )

    backward = [
        Quantity(
            "d_loss__d_a",
            "dL/da",
            "2 (a - y) / n",
            MAP,
            where(network.loss.value_and_gradient),
            grad_output.reshape(OUT, OUT).copy(),
        )
    ]
    delta = activation.backward(flatten.backward(grad_output))  # [1, 1, 3, 3]
    backward.append(
        Quantity(
            "delta", "delta = dL/dz", "dL/da * a (1 - a)", MAP, where(activation.function.backward), delta[0, 0].copy()
        )
    )
    d_x = conv.backward(delta)
    backward.append(
        Quantity(
            "d_loss__d_x",
            "dL/dx",
            "dL/dx[p, q] = sum_{u, v} delta[p - u, q - v] W[u, v]",
            IMAGE,
            where(Conv2D.backward),
            d_x[0, 0].copy(),
        )
    )

    def loss_value() -> float:
        return network.loss.value(network.forward(x), y)

    gradients = []
    for key, symbol, equation, name, entry, dims in (
        ("d_loss__dw", "dL/dW", "dL/dW[u, v] = sum_{i, j} delta[i, j] x[i + u, j + v]", "weight", "w", FILTER),
        ("d_loss__db", "dL/db", "sum_{i, j} delta[i, j]", "bias", "b", ()),
    ):
        analytic = getattr(conv, "grad_" + name).copy()
        numeric = numerical_gradient(loss_value, getattr(conv, name), eps)
        shown = (lambda v: v[0, 0]) if name == "weight" else (lambda v: v)
        gradients.append(
            GradientCheck(
                key,
                symbol,
                equation,
                name,
                entry,
                dims,
                where(Conv2D.backward),
                shown(analytic),
                shown(numeric),
                relative_error(analytic, numeric),
            )
        )
    optimizer.step()
    after = {q.key: q for q in _parameters(conv)}
    updates = [
        Update(p.key, p.symbol, p.key[0], g.symbol, p.value, after[p.key].value) for p, g in zip(parameters, gradients)
    ]
    settings = {
        "image": [SIDE, SIDE],
        "filter": [KERNEL, KERNEL],
        "output": [OUT, OUT],
        "activation": "sigmoid",
        "loss": "mse",
        "seed": seed,
        "lr": float(lr),
        "eps": eps,
        "dtype": "float64",
    }
    return ConvolutionWalkthrough(
        settings,
        inputs,
        parameters,
        forward,
        loss,
        backward,
        gradients,
        updates,
        float(network.loss.value(network.forward(x), y)),
        network,
    )


def _parameters(conv: Conv2D) -> list[Quantity]:
    init = where(Conv2D.__init__)
    return [
        Quantity("weight", "W", "N(0, 0.1)", FILTER, init, conv.weight[0, 0].copy()),
        Quantity("bias", "b", "zero", (), init, conv.bias.copy()),
    ]


def format_convolution_walkthrough(walk: ConvolutionWalkthrough) -> str:
    """The walk-through as text."""
    s = walk.settings

    def block(q: Quantity, label: str) -> list[str]:
        shape = f"[{', '.join(q.dims)}] = [{', '.join(map(str, q.value.shape))}]" if q.dims else ""
        return [f"  {label}   {shape}   {q.code}", _matrix(q.value, "      ")]

    lines = [
        "One training step of a 3x3 convolution on a 5x5 image, every number shown",
        f"  Conv2D(1 -> 1, 3x3) -> sigmoid -> Flatten, loss: mse, seed {s['seed']}, float64, "
        f"learning rate eta = {s['lr']:g}",
        "",
        "Input",
    ]
    for q in walk.inputs:
        lines += block(q, f"{q.symbol} = {q.equation}")
    lines += ["", "Parameters before the step"]
    for q in walk.parameters:
        lines += block(q, f"{q.symbol:<3}= {q.equation}")
    lines += ["", "1. Forward pass (each output: the filter laid on one 3x3 patch, multiplied and summed)"]
    for q in walk.forward:
        lines += block(q, f"{q.symbol}: {q.equation}")
    lines += [
        f"  L = {walk.loss.equation}",
        f"    = {float(walk.loss.value):.12f}   {walk.loss.code}",
        "",
        "2. Backward pass",
    ]
    for q in walk.backward:
        lines += block(q, f"{q.symbol}: {q.equation}")
    lines += ["", f"3. Gradients: backpropagation beside central finite differences, eps = {s['eps']:g}"]
    for g in walk.gradients:
        lines.append(f"  {g.symbol}: {g.equation}   relative error {g.relative_error:.1e}")
        lines.append(f"      {'entry':<10}{'backpropagation':>20}{'finite differences':>22}{'|difference|':>14}")
        for index in np.ndindex(g.analytic.shape):
            name = g.entry + ("[" + ", ".join(map(str, index)) + "]" if index else "")
            a, n = g.analytic[index], g.numeric[index]
            lines.append(f"      {name:<10}{a:>20.12f}{n:>22.12f}{abs(a - n):>14.1e}")
    verdict = "agree" if walk.max_relative_error < RELATIVE_TOLERANCE else "DISAGREE: a derivative is wrong"
    lines.append(
        f"  largest relative error {walk.max_relative_error:.1e}: backpropagation and finite differences {verdict}"
    )
    lines += ["", f"4. SGD step: w := w - eta dL/dw, eta = {s['lr']:g}   {where(SGD.update)}"]
    for u in walk.updates:
        lines.append(f"  {u.symbol} := {u.symbol} - {s['lr']:g} {u.gradient}")
        lines.append(_matrix(u.after, "      "))
    lines.append(f"  L on the same image: {float(walk.loss.value):.12f} before the step, {walk.loss_after:.12f} after")
    return "\n".join(lines)
