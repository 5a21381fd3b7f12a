"""Optimizers: they only update parameters, in place, each by its equation.

An optimizer is built from a list of ``Parameter`` records (value, grad, decay) and
``step()`` applies one update from the gradients the layers wrote during ``backward``.
L2 regularization ("weight decay") adds ``weight_decay * w`` to the gradient of every
parameter whose ``decay`` flag is set (the weights, not the biases), i.e. it minimises
``L + weight_decay / 2 * ||W||^2``.

The update rules below are the mathematics; how they are made fast (BLAS axpy, blocks on two
threads, buffers kept out of the subnormal range) is ``kernels``' business.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import kernels
from .layers import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "OPTIMIZERS", "get_optimizer"]


def _check_non_negative(name: str, value: float, upper: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


class Optimizer:
    """Base class: holds the parameters, the learning rate, the L2 coefficient and the step count.

    ``step()`` counts the step, keeps the state buffers out of the subnormal range (every
    ``FLUSH_EVERY`` steps, before the update) and calls ``update()``, the optimizer's rule.
    """

    #: every this many steps, state buffers lose the values that would soon be subnormal
    FLUSH_EVERY = 100

    def __init__(self, params: Sequence[Parameter], lr: float, weight_decay: float = 0.0):
        self.params = list(params)
        lr = float(lr)
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
        self.lr = lr
        self.weight_decay = _check_non_negative("weight_decay", weight_decay)
        self.t = 0  # steps taken
        # per parameter: None (no L2), or the factor weight_decay * mask that multiplies w
        self._decay_factor = [self._factor(p) for p in self.params]
        self._decayed = [None if f is None else np.empty_like(p.value)
                         for f, p in zip(self._decay_factor, self.params)]

    def _factor(self, p: Parameter):
        if not self.weight_decay or not np.any(p.decay):
            return None
        if np.ndim(p.decay) == 0:
            return self.weight_decay
        return (np.asarray(p.decay) * self.weight_decay).astype(p.value.dtype)  # 0 for biases

    def gradient(self, i: int) -> np.ndarray:
        """Parameter i's gradient with the L2 term added: g + weight_decay * w (a buffer, not p.grad)."""
        p, factor = self.params[i], self._decay_factor[i]
        if factor is None:
            return p.grad
        buffer = self._decayed[i]
        np.multiply(p.value, factor, out=buffer)
        buffer += p.grad
        return buffer

    def step(self) -> None:
        """One update of every parameter from its gradient."""
        self.t += 1
        if self.t % self.FLUSH_EVERY == 0:
            kernels.flush_tiny(self.buffers())
        self.update()

    def update(self) -> None:
        raise NotImplementedError

    def buffers(self) -> list[np.ndarray]:
        """The state arrays that decay geometrically when a gradient stays zero (moments)."""
        return []

    def hyperparameters(self) -> dict:
        """The constructor's settings (without the parameters): ``type(opt)(params, **these)``
        makes the same optimizer again."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> dict:
        """The optimizer's state (learning rate, step count, buffers) as arrays and numbers."""
        return {"lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        self.lr = float(state["lr"])


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Plain:     w <- w - lr * g                      (the chapter's update)
    Momentum:  v <- mu * v + g;  w <- w - lr * v
    Nesterov:  v <- mu * v + g;  w <- w - lr * (g + mu * v)
    """

    def __init__(self, params, lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_non_negative("momentum", momentum, upper=1.0)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)
        self.velocity = [np.zeros_like(p.value) for p in self.params] if self.momentum else []

    def update(self) -> None:
        lr, mu = self.lr, self.momentum
        for i, p in enumerate(self.params):
            g, w = self.gradient(i), p.value
            if not mu:
                kernels.axpy(-lr, g, w)           # w <- w - lr g
                continue
            v = self.velocity[i]
            v *= mu
            v += g                                # v <- mu v + g
            if self.nesterov:
                kernels.axpy(-lr, g, w)
                kernels.axpy(-lr * mu, v, w)      # w <- w - lr (g + mu v)
            else:
                kernels.axpy(-lr, v, w)           # w <- w - lr v

    def buffers(self):
        return self.velocity

    def hyperparameters(self) -> dict:
        return {**super().hyperparameters(), "momentum": self.momentum, "nesterov": self.nesterov}

    def state_dict(self) -> dict:
        return {"lr": self.lr, "steps": self.t, "velocity": [v.copy() for v in self.velocity]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.t = int(state.get("steps", 0))
        for v, saved in zip(self.velocity, state.get("velocity", [])):
            np.copyto(v, saved)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015, https://arxiv.org/abs/1412.6980), with bias correction:

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    w <- w - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps_hat)
    where eps_hat = eps * sqrt(1 - b2^t), which is the textbook update
    w <- w - lr * m_hat / (sqrt(v_hat) + eps) rearranged to work in place.
    """

    def __init__(self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1 = _check_non_negative("beta1", beta1, upper=1.0)
        self.beta2 = _check_non_negative("beta2", beta2, upper=1.0)
        self.eps = float(eps)
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.m = [np.zeros_like(p.value) for p in self.params]
        self.v = [np.zeros_like(p.value) for p in self.params]
        self._scratch = [np.empty_like(p.value) for p in self.params]

    def update(self) -> None:
        correction1 = 1.0 - self.beta1 ** self.t
        correction2 = 1.0 - self.beta2 ** self.t
        step_size = self.lr * math.sqrt(correction2) / correction1
        eps_hat = self.eps * math.sqrt(correction2)
        groups = [(p.value, self.gradient(i), self.m[i], self.v[i], self._scratch[i])
                  for i, p in enumerate(self.params)]
        kernels.elementwise(self._update, groups, step_size, eps_hat)

    def _update(self, w, g, m, v, scratch, step_size: float, eps_hat: float) -> None:
        # m <- b1 m + (1 - b1) g
        m *= self.beta1
        np.multiply(g, 1.0 - self.beta1, out=scratch)
        m += scratch
        # v <- b2 v + (1 - b2) g^2
        v *= self.beta2
        np.multiply(g, g, out=scratch)
        scratch *= 1.0 - self.beta2
        v += scratch
        # w <- w - step_size * m / (sqrt(v) + eps_hat)
        np.sqrt(v, out=scratch)
        scratch += eps_hat
        np.divide(m, scratch, out=scratch)
        scratch *= step_size
        w -= scratch

    def buffers(self):
        return self.m + self.v

    def hyperparameters(self) -> dict:
        return {**super().hyperparameters(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def state_dict(self) -> dict:
        return {"lr": self.lr, "t": self.t, "m": [a.copy() for a in self.m],
                "v": [a.copy() for a in self.v]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.t = int(state["t"])
        for mine, saved in zip(self.m + self.v, list(state["m"]) + list(state["v"])):
            np.copyto(mine, saved)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def get_optimizer(name: str, params, **options) -> Optimizer:
    """Build an optimizer by name; options are passed to its constructor."""
    try:
        cls = OPTIMIZERS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    return cls(params, **options)
