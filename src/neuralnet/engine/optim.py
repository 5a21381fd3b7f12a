"""Optimizers: they only update parameters, in place, each by its equation.

An optimizer is built from a list of ``Parameter`` records (value, grad, decay) and
``step()`` applies one update from the gradients the layers wrote during ``backward``. The
hyper-parameters have PyTorch's names and defaults (``torch.optim``): ``lr``, ``momentum``,
``nesterov``, ``betas``, ``eps``, ``alpha``, ``weight_decay``.

What every optimizer shares, applied to the gradient g before its own rule:

* gradient clipping by global norm (``max_grad_norm``, PyTorch's ``clip_grad_norm_``):
  g <- g * min(1, max_grad_norm / (||g||_2 + 1e-6)), ||g|| over all parameters together;
* L2 regularization ("weight decay", coupled as in PyTorch's SGD/Adam/RMSprop/Adagrad):
  g <- g + weight_decay * w, i.e. ``L + weight_decay / 2 * ||W||^2`` is minimised; AdamW
  decouples it instead (w <- w - lr * weight_decay * w, then Adam on g);
* L1 regularization: g <- g + l1 * sign(w), i.e. ``L + l1 * ||W||_1``.

Both penalties apply to the parameters whose ``decay`` flag is set (the weights, not the
biases nor batch normalisation's parameters).

The update rules below are the mathematics; how they are made fast (BLAS axpy, blocks on two
threads, buffers kept out of the subnormal range) is ``kernels``' business.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import kernels
from .layers import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "OPTIMIZERS", "get_optimizer", "clip_grad_norm"]


def _check_non_negative(name: str, value: float, upper: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def _check_betas(betas) -> tuple[float, float]:
    try:
        beta1, beta2 = (float(b) for b in betas)
    except (TypeError, ValueError):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}") from None
    return _check_non_negative("betas[0]", beta1, upper=1.0), _check_non_negative("betas[1]", beta2, upper=1.0)


def clip_grad_norm(params: Sequence[Parameter], max_norm: float) -> float:
    """Scale every gradient in place so that their global L2 norm is at most ``max_norm``.

    PyTorch's ``clip_grad_norm_``: g <- g * max_norm / (norm + 1e-6) when that factor is below 1.

    Parameters
    ----------
    params : sequence of Parameter
        The parameters whose ``grad`` arrays are clipped together.
    max_norm : float
        The largest global norm.

    Returns
    -------
    float
        The norm before clipping.
    """
    norm = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    factor = max_norm / (norm + 1e-6)
    if factor < 1.0:
        for p in params:
            p.grad *= factor
    return norm


class Optimizer:
    """Base class: the parameters, the learning rate, the step count and what every rule
    shares (gradient clipping, L2 and L1 terms; see the module's docstring).

    ``step()`` counts the step, keeps the state buffers out of the subnormal range (every
    ``FLUSH_EVERY`` steps, before the update), clips the gradients and calls ``update()``, the
    optimizer's rule, which reads each gradient through ``gradient(i)``.

    Parameters
    ----------
    params : sequence of Parameter
        What it updates, in place (e.g. ``network.flat_parameters()``).
    lr : float
        The learning rate, a finite number > 0.
    weight_decay : float, default 0.0
        The L2 coefficient (coupled; decoupled in AdamW), applied to the parameters whose
        ``decay`` flag is set.
    l1 : float, default 0.0
        The L1 coefficient, applied to the same parameters.
    max_grad_norm : float, optional
        Clip the gradients to this global L2 norm before each update (None: no clipping).
    """

    #: every this many steps, state buffers lose the values that would soon be subnormal
    FLUSH_EVERY = 100
    #: weight decay taken out of the gradient and applied to the weights (AdamW)
    decoupled_weight_decay = False

    def __init__(
        self,
        params: Sequence[Parameter],
        lr: float,
        weight_decay: float = 0.0,
        *,
        l1: float = 0.0,
        max_grad_norm: float | None = None,
    ):
        self.params = list(params)
        lr = float(lr)
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
        self.lr = lr
        self.weight_decay = _check_non_negative("weight_decay", weight_decay)
        self.l1 = _check_non_negative("l1", l1)
        self.max_grad_norm = None if max_grad_norm is None else _check_positive("max_grad_norm", max_grad_norm)
        self.t = 0  # steps taken
        # per parameter: None (no penalty), or the coefficient times the decay mask (0 for biases)
        l2 = 0.0 if self.decoupled_weight_decay else self.weight_decay
        self._l2_factor = [self._factor(p, l2) for p in self.params]
        self._l1_factor = [self._factor(p, self.l1) for p in self.params]
        self._penalized = [
            None if f is None and h is None else np.empty_like(p.value)
            for f, h, p in zip(self._l2_factor, self._l1_factor, self.params)
        ]

    @staticmethod
    def _factor(p: Parameter, coefficient: float):
        if not coefficient or not np.any(p.decay):
            return None
        if np.ndim(p.decay) == 0:
            return coefficient
        return (np.asarray(p.decay) * coefficient).astype(p.value.dtype)

    def gradient(self, i: int) -> np.ndarray:
        """Parameter i's gradient with the penalties added: g + weight_decay * w + l1 * sign(w).

        Parameters
        ----------
        i : int
            The parameter's index in ``params``.

        Returns
        -------
        ndarray of the parameter's shape
            A buffer, not p.grad (p.grad itself when no penalty applies to the parameter).
        """
        p, l2, l1 = self.params[i], self._l2_factor[i], self._l1_factor[i]
        if l2 is None and l1 is None:
            return p.grad
        buffer = self._penalized[i]
        if l1 is not None:
            np.sign(p.value, out=buffer)
            buffer *= l1  # l1 sign(w)
            if l2 is not None:
                buffer += p.value * l2  # + weight_decay w
        else:
            np.multiply(p.value, l2, out=buffer)  # weight_decay w
        buffer += p.grad
        return buffer

    def decay_weights(self, i: int) -> None:
        """Decoupled weight decay of parameter i: w <- w - lr * weight_decay * w (masked).

        Parameters
        ----------
        i : int
            The parameter's index in ``params``.
        """
        factor = self._factor(self.params[i], self.weight_decay)
        if factor is not None:
            w = self.params[i].value
            w -= w * (self.lr * factor)

    def step(self) -> None:
        """One update of every parameter from its gradient.

        Counts the step, clears the state buffers of values about to become subnormal every
        ``FLUSH_EVERY`` steps (before the update), clips the gradients (``max_grad_norm``), then
        applies the rule (``update``).
        """
        self.t += 1
        if self.t % self.FLUSH_EVERY == 0:
            kernels.flush_tiny(self.buffers())
        if self.max_grad_norm is not None:
            clip_grad_norm(self.params, self.max_grad_norm)
        self.update()

    def update(self) -> None:
        """The optimizer's rule: update every parameter in place from ``gradient(i)``."""
        raise NotImplementedError

    def buffers(self) -> list[np.ndarray]:
        """The state arrays that decay geometrically when a gradient stays zero (moments)."""
        return []

    def hyperparameters(self) -> dict:
        """The constructor's settings (without the parameters): ``type(opt)(params, **these)``
        makes the same optimizer again."""
        return {"lr": self.lr, "weight_decay": self.weight_decay, "l1": self.l1, "max_grad_norm": self.max_grad_norm}

    def state_dict(self) -> dict:
        """The optimizer's state (learning rate, step count, buffers) as arrays and numbers."""
        return {"lr": self.lr}

    def load_state_dict(self, state: dict) -> None:
        """Take back a ``state_dict``: the learning rate, step count and buffers (copied in place).

        Parameters
        ----------
        state : dict
            What ``state_dict`` gave.
        """
        self.lr = float(state["lr"])


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Plain:     w <- w - lr * g                      (the chapter's update)
    Momentum:  v <- mu * v + g;  w <- w - lr * v
    Nesterov:  v <- mu * v + g;  w <- w - lr * (g + mu * v)

    Parameters
    ----------
    params : sequence of Parameter
        What it updates.
    lr : float, default 0.1
        The learning rate.
    momentum : float, default 0.0
        mu, in [0, 1).
    nesterov : bool, default False
        Nesterov's momentum (needs a momentum > 0).
    weight_decay : float, default 0.0
        The L2 coefficient.
    **shared
        ``l1`` and ``max_grad_norm`` (see ``Optimizer``).
    """

    def __init__(
        self,
        params,
        lr: float = 0.1,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        **shared,
    ):
        super().__init__(params, lr, weight_decay, **shared)
        self.momentum = _check_non_negative("momentum", momentum, upper=1.0)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)
        self.velocity = [np.zeros_like(p.value) for p in self.params] if self.momentum else []

    def update(self) -> None:
        """w <- w - lr * g, with momentum v <- mu * v + g as above."""
        lr, mu = self.lr, self.momentum
        for i, p in enumerate(self.params):
            g, w = self.gradient(i), p.value
            if not mu:
                kernels.axpy(-lr, g, w)  # w <- w - lr g
                continue
            v = self.velocity[i]
            v *= mu
            v += g  # v <- mu v + g
            if self.nesterov:
                kernels.axpy(-lr, g, w)
                kernels.axpy(-lr * mu, v, w)  # w <- w - lr (g + mu v)
            else:
                kernels.axpy(-lr, v, w)  # w <- w - lr v

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

    Parameters
    ----------
    params : sequence of Parameter
        What it updates.
    lr : float, default 1e-3
        The learning rate.
    betas : tuple of float, default (0.9, 0.999)
        (b1, b2), each in [0, 1).
    eps : float, default 1e-8
        > 0.
    weight_decay : float, default 0.0
        The L2 coefficient.
    **shared
        ``l1`` and ``max_grad_norm`` (see ``Optimizer``).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        **shared,
    ):
        super().__init__(params, lr, weight_decay, **shared)
        self.beta1, self.beta2 = _check_betas(betas)
        self.eps = _check_positive("eps", eps)
        self.m = [np.zeros_like(p.value) for p in self.params]
        self.v = [np.zeros_like(p.value) for p in self.params]

    @property
    def betas(self) -> tuple[float, float]:
        """(b1, b2)."""
        return self.beta1, self.beta2

    def update(self) -> None:
        """Adam's step (after the decoupled weight decay, for AdamW), block by block."""
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        step_size = self.lr * math.sqrt(correction2) / correction1
        eps_hat = self.eps * math.sqrt(correction2)
        if self.decoupled_weight_decay:
            for i in range(len(self.params)):
                self.decay_weights(i)
        groups = [(p.value, self.gradient(i), self.m[i], self.v[i]) for i, p in enumerate(self.params)]
        kernels.elementwise(self._update, groups, step_size, eps_hat, scratch=1)

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
        return {**super().hyperparameters(), "betas": self.betas, "eps": self.eps}

    def state_dict(self) -> dict:
        return {"lr": self.lr, "t": self.t, "m": [a.copy() for a in self.m], "v": [a.copy() for a in self.v]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.t = int(state["t"])
        for mine, saved in zip(self.m + self.v, list(state["m"]) + list(state["v"])):
            np.copyto(mine, saved)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019, https://arxiv.org/abs/1711.05101):

    w <- w - lr * weight_decay * w;  then Adam's step on g (no L2 term in g)

    PyTorch's default ``weight_decay`` of 0.01.

    Parameters
    ----------
    params : sequence of Parameter
        What it updates.
    lr : float, default 1e-3
        The learning rate.
    betas : tuple of float, default (0.9, 0.999)
        (b1, b2), each in [0, 1).
    eps : float, default 1e-8
        > 0.
    weight_decay : float, default 0.01
        The decoupled weight decay's coefficient.
    **shared
        ``l1`` and ``max_grad_norm`` (see ``Optimizer``).
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        **shared,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, **shared)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), as PyTorch writes it:

    v <- alpha v + (1 - alpha) g^2
    plain:     w <- w - lr * g / (sqrt(v) + eps)
    momentum:  b <- mu b + g / (sqrt(v) + eps);  w <- w - lr * b

    Parameters
    ----------
    params : sequence of Parameter
        What it updates.
    lr : float, default 0.01
        The learning rate.
    alpha : float, default 0.99
        In [0, 1).
    eps : float, default 1e-8
        > 0.
    weight_decay : float, default 0.0
        The L2 coefficient.
    momentum : float, default 0.0
        mu, in [0, 1).
    **shared
        ``l1`` and ``max_grad_norm`` (see ``Optimizer``).
    """

    def __init__(
        self,
        params,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        **shared,
    ):
        super().__init__(params, lr, weight_decay, **shared)
        self.alpha = _check_non_negative("alpha", alpha, upper=1.0)
        self.eps = _check_positive("eps", eps)
        self.momentum = _check_non_negative("momentum", momentum, upper=1.0)
        self.square_avg = [np.zeros_like(p.value) for p in self.params]
        self.momentum_buffer = [np.zeros_like(p.value) for p in self.params] if self.momentum else []
        self._scratch = [np.empty_like(p.value) for p in self.params]

    def update(self) -> None:
        """RMSprop's step, as above."""
        for i, p in enumerate(self.params):
            g, w, v, scratch = self.gradient(i), p.value, self.square_avg[i], self._scratch[i]
            v *= self.alpha
            np.multiply(g, g, out=scratch)
            scratch *= 1.0 - self.alpha
            v += scratch  # v <- alpha v + (1 - alpha) g^2
            np.sqrt(v, out=scratch)
            scratch += self.eps
            np.divide(g, scratch, out=scratch)  # g / (sqrt(v) + eps)
            if self.momentum:
                b = self.momentum_buffer[i]
                b *= self.momentum
                b += scratch  # b <- mu b + g / (sqrt(v) + eps)
                kernels.axpy(-self.lr, b, w)  # w <- w - lr b
            else:
                kernels.axpy(-self.lr, scratch, w)

    def buffers(self):
        return self.square_avg + self.momentum_buffer

    def hyperparameters(self) -> dict:
        return {**super().hyperparameters(), "alpha": self.alpha, "eps": self.eps, "momentum": self.momentum}

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "steps": self.t,
            "square_avg": [a.copy() for a in self.square_avg],
            "momentum_buffer": [a.copy() for a in self.momentum_buffer],
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.t = int(state["steps"])
        for mine, saved in zip(
            self.square_avg + self.momentum_buffer, list(state["square_avg"]) + list(state["momentum_buffer"])
        ):
            np.copyto(mine, saved)


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer, 2011), as PyTorch writes it:

    lr_t = lr / (1 + (t - 1) lr_decay);  s <- s + g^2;  w <- w - lr_t * g / (sqrt(s) + eps)

    with s starting at ``initial_accumulator_value``.

    Parameters
    ----------
    params : sequence of Parameter
        What it updates.
    lr : float, default 0.01
        The learning rate.
    lr_decay : float, default 0.0
        >= 0.
    weight_decay : float, default 0.0
        The L2 coefficient.
    initial_accumulator_value : float, default 0.0
        >= 0.
    eps : float, default 1e-10
        > 0.
    **shared
        ``l1`` and ``max_grad_norm`` (see ``Optimizer``).
    """

    def __init__(
        self,
        params,
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        **shared,
    ):
        super().__init__(params, lr, weight_decay, **shared)
        self.lr_decay = _check_non_negative("lr_decay", lr_decay)
        self.initial_accumulator_value = _check_non_negative("initial_accumulator_value", initial_accumulator_value)
        self.eps = _check_positive("eps", eps)
        self.sum = [np.full_like(p.value, self.initial_accumulator_value) for p in self.params]
        self._scratch = [np.empty_like(p.value) for p in self.params]

    def update(self) -> None:
        """Adagrad's step, as above."""
        lr_t = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        for i, p in enumerate(self.params):
            g, s, scratch = self.gradient(i), self.sum[i], self._scratch[i]
            np.multiply(g, g, out=scratch)
            s += scratch  # s <- s + g^2
            np.sqrt(s, out=scratch)
            scratch += self.eps
            np.divide(g, scratch, out=scratch)
            kernels.axpy(-lr_t, scratch, p.value)  # w <- w - lr_t g / (sqrt(s) + eps)

    def hyperparameters(self) -> dict:
        return {
            **super().hyperparameters(),
            "lr_decay": self.lr_decay,
            "initial_accumulator_value": self.initial_accumulator_value,
            "eps": self.eps,
        }

    def state_dict(self) -> dict:
        return {"lr": self.lr, "steps": self.t, "sum": [a.copy() for a in self.sum]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.t = int(state["steps"])
        for mine, saved in zip(self.sum, state["sum"]):
            np.copyto(mine, saved)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
}


def get_optimizer(name: str, params, **options) -> Optimizer:
    """Build an optimizer by name; options are passed to its constructor.

    Parameters
    ----------
    name : str
        One of ``OPTIMIZERS`` (any case): "sgd", "adam", "adamw", "rmsprop", "adagrad".
    params : sequence of Parameter
        What it updates.
    **options
        The constructor's settings (``lr``, ``momentum``, ...).

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name.
    """
    try:
        cls = OPTIMIZERS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    return cls(params, **options)
