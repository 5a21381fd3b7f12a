"""Optimizers (they only update parameters, in place) and learning-rate schedules.

An optimizer is built from a list of ``Parameter`` records (value, grad, decay) and
``step()`` applies one update from the gradients the layers wrote during ``backward``.
L2 regularisation ("weight decay") adds ``weight_decay * w`` to the gradient of every
parameter whose ``decay`` flag is set (the weights, not the biases), i.e. it minimises
``L + weight_decay / 2 * ||W||^2``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .layers import Parameter

__all__ = [
    "Optimizer", "SGD", "Adam", "OPTIMIZERS", "get_optimizer",
    "SCHEDULES", "get_schedule", "constant_schedule", "step_schedule",
    "exponential_schedule", "cosine_schedule",
]


def _check_non_negative(name: str, value: float, upper: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper})" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


#: OpenBLAS runs a level-1 routine such as axpy on one thread up to 10,000 elements and
#: hands larger ones to its thread pool, which costs more than it saves for a memory-bound
#: operation (and a great deal on a busy machine); axpy goes through BLAS in pieces this size
AXPY_BLOCK = 8192


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """y += alpha * x in place, in one pass: BLAS axpy for contiguous float32/float64 arrays
    of one layout (the flat parameter buffers), two NumPy operations otherwise."""
    if (x.dtype == y.dtype and x.dtype in (np.float32, np.float64) and x.shape == y.shape
            and x.flags.c_contiguous and y.flags.c_contiguous):
        from scipy.linalg import blas  # imported on first use

        function = blas.saxpy if x.dtype == np.float32 else blas.daxpy
        x, y = x.reshape(-1), y.reshape(-1)
        for start in range(0, x.size, AXPY_BLOCK):  # y is updated in place
            function(x[start:start + AXPY_BLOCK], y[start:start + AXPY_BLOCK], a=alpha)
    else:
        y += alpha * x


class Optimizer:
    """Base class: holds the parameters, the learning rate and the L2 coefficient."""

    def __init__(self, params: Sequence[Parameter], lr: float, weight_decay: float = 0.0):
        self.params = list(params)
        lr = float(lr)
        if not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
        self.lr = lr
        self.weight_decay = _check_non_negative("weight_decay", weight_decay)
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

    def _gradient(self, i: int, p: Parameter) -> np.ndarray:
        """The gradient with the L2 term added: g + weight_decay * w (a buffer, not p.grad)."""
        factor = self._decay_factor[i]
        if factor is None:
            return p.grad
        buffer = self._decayed[i]
        np.multiply(p.value, factor, out=buffer)
        buffer += p.grad
        return buffer

    def step(self) -> None:
        raise NotImplementedError

    #: every this many steps, moment buffers lose the values that would soon be subnormal
    FLUSH_EVERY = 100

    @staticmethod
    def _flush_tiny(buffers) -> None:
        """Set to zero the entries of ``buffers`` below ``finfo.tiny * 1e8`` in magnitude (about
        1e-30 in float32).

        A weight whose gradient stays exactly zero (a ReLU unit that never fires) has moments
        that decay geometrically into the subnormal range (below 1.2e-38 in float32), where
        x86 arithmetic is about a hundred times slower: Adam slowed from 1.3 ms to 8.9 ms a
        step on MNIST. Values this small change no update measurably, and from 1e-30 a moment
        needs over 100 steps (beta = 0.9) to become subnormal, so flushing every
        ``FLUSH_EVERY`` steps keeps the buffers out of that range.
        """
        for buffer in buffers:
            threshold = np.finfo(buffer.dtype).tiny * 1e8
            np.copyto(buffer, 0.0, where=np.abs(buffer) < threshold)

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
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.velocity and self.steps % self.FLUSH_EVERY == 0:
            self._flush_tiny(self.velocity)
        for i, p in enumerate(self.params):
            g = self._gradient(i, p)
            if not self.momentum:
                axpy(-self.lr, g, p.value)  # w <- w - lr g
                continue
            v = self.velocity[i]
            v *= self.momentum
            v += g  # v <- mu v + g
            if self.nesterov:
                axpy(-self.lr, g, p.value)
                axpy(-self.lr * self.momentum, v, p.value)  # w <- w - lr (g + mu v)
            else:
                axpy(-self.lr, v, p.value)  # w <- w - lr v

    def state_dict(self) -> dict:
        return {"lr": self.lr, "steps": self.steps, "velocity": [v.copy() for v in self.velocity]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.steps = int(state.get("steps", 0))
        for v, saved in zip(self.velocity, state.get("velocity", [])):
            np.copyto(v, saved)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with bias correction:

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
        self.t = 0
        self.m = [np.zeros_like(p.value) for p in self.params]
        self.v = [np.zeros_like(p.value) for p in self.params]
        self._scratch = [np.empty_like(p.value) for p in self.params]

    #: elements updated at a time: the blocks of the five arrays (5 x 512 KiB in float32) stay
    #: in the core's cache across the twelve operations, instead of twelve trips through memory
    BLOCK = 131_072

    def step(self) -> None:
        self.t += 1
        if self.t % self.FLUSH_EVERY == 0:
            self._flush_tiny(self.m + self.v)
        correction1 = 1.0 - self.beta1 ** self.t
        correction2 = 1.0 - self.beta2 ** self.t
        step_size = self.lr * math.sqrt(correction2) / correction1
        eps_hat = self.eps * math.sqrt(correction2)
        blocks = []
        for i, p in enumerate(self.params):
            arrays = (p.value, self._gradient(i, p), self.m[i], self.v[i], self._scratch[i])
            flat = [a.ravel(order="K") for a in arrays]  # views: all share one memory layout
            if not all(np.shares_memory(f, a) for f, a in zip(flat, arrays)):
                flat = list(arrays)  # not contiguous: whole arrays at once
            size = self.BLOCK if flat[0].ndim == 1 else flat[0].size
            blocks += [tuple(f[start:start + size] for f in flat) for start in range(0, flat[0].size, size)]
        if len(blocks) < 2:
            self._update_blocks(blocks, step_size, eps_hat)
            return
        # element-wise work, so the blocks split between two threads give the same numbers
        # (NumPy releases the GIL inside each operation): half on a helper thread
        half = len(blocks) // 2
        other_half = self._helper().submit(self._update_blocks, blocks[half:], step_size, eps_hat)
        self._update_blocks(blocks[:half], step_size, eps_hat)
        other_half.result()

    def _helper(self):
        if getattr(self, "_pool", None) is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuralnet-adam")
        return self._pool

    def __getstate__(self):  # a thread pool is not copied or pickled; a copy starts its own
        state = self.__dict__.copy()
        state["_pool"] = None
        return state

    def _update_blocks(self, blocks, step_size: float, eps_hat: float) -> None:
        for w, g, m, v, scratch in blocks:
            self._update(w, g, m, v, scratch, step_size, eps_hat)

    def _update(self, w, g, m, v, scratch, step_size: float, eps_hat: float) -> None:
        """Element-wise NumPy only (single-threaded: no BLAS thread pool for memory-bound work)."""
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


# --- learning-rate schedules: (base_lr, epoch index from 0, total epochs) -> lr -------

def constant_schedule(base_lr: float, epoch: int, epochs: int) -> float:
    return base_lr


def step_schedule(base_lr: float, epoch: int, epochs: int, step_size: int = 10, gamma: float = 0.1) -> float:
    # lr = base * gamma^floor(epoch / step_size)
    return base_lr * gamma ** (epoch // step_size)


def exponential_schedule(base_lr: float, epoch: int, epochs: int, gamma: float = 0.95) -> float:
    # lr = base * gamma^epoch
    return base_lr * gamma ** epoch


def cosine_schedule(base_lr: float, epoch: int, epochs: int, min_lr: float = 0.0) -> float:
    # lr = min + (base - min) * (1 + cos(pi * epoch / epochs)) / 2: base at epoch 0, -> min
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant_schedule,
    "step": step_schedule,
    "exponential": exponential_schedule,
    "cosine": cosine_schedule,
}


def get_schedule(name: str | None, **options) -> Callable[[float, int, int], float]:
    """A schedule by name, with its options bound: f(base_lr, epoch, epochs) -> lr."""
    key = "constant" if name is None else str(name).lower()
    try:
        fn = SCHEDULES[key]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule {name!r}; expected one of {sorted(SCHEDULES)}") from None
    if not options:
        return fn
    return lambda base_lr, epoch, epochs: fn(base_lr, epoch, epochs, **options)
