"""Layers: each one's forward pass and backward pass side by side.

A layer maps a batch ``x`` of shape ``[n_examples, n_in]`` to ``[n_examples, n_out]``.

* ``forward(x, training=False)`` computes the output and remembers what the backward
  pass needs (the input for ``Dense``, the output for activations, the mask for
  ``Dropout``).
* ``backward(grad_out)`` takes dL/d(output) and returns dL/d(input); a layer with
  parameters also writes dL/d(parameter) into its gradient arrays, overwriting them
  (gradients are not accumulated across calls, so there is no ``zero_grad``).
* ``parameters()`` lists ``Parameter(name, value, grad, decay)`` records that the
  optimizers update in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .activations import get_activation

__all__ = ["Parameter", "Layer", "Dense", "Activation", "Dropout", "RandomShift", "INITIALIZERS"]


@dataclass
class Parameter:
    """A trainable array, its gradient (same shape and dtype), and whether L2 applies to it
    (a bool, or for a flat buffer of several parameters a boolean mask of its entries)."""

    name: str
    value: np.ndarray
    grad: np.ndarray
    decay: bool | np.ndarray = True


class Layer:
    """Base class: a layer without parameters that passes its input through."""

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def bind_parameter(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        """Move parameter ``name`` and its gradient into the given 1-D arrays (segments of a
        network's flat buffers), keeping its current values."""
        current = getattr(self, name)
        value, grad = value.reshape(current.shape), grad.reshape(current.shape)
        np.copyto(value, current)
        np.copyto(grad, getattr(self, "grad_" + name))
        setattr(self, name, value)
        setattr(self, "grad_" + name, grad)

    def config(self) -> dict:
        """What is needed to rebuild the layer (without its weights), as JSON-ready data."""
        return {"type": type(self).__name__}


# --- weight initialisers: rng -> (n_out, n_in) float64 array --------------------------

def _init_chapter(rng: np.random.RandomState, n_in: int, n_out: int) -> np.ndarray:
    # the chapter: rng.normal(loc=0.0, scale=0.1, size=(n_out, n_in))
    return rng.normal(loc=0.0, scale=0.1, size=(n_out, n_in))


def _init_glorot(rng: np.random.RandomState, n_in: int, n_out: int) -> np.ndarray:
    # Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (n_in + n_out))
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_out, n_in))


def _init_he(rng: np.random.RandomState, n_in: int, n_out: int) -> np.ndarray:
    # He et al. (2015): N(0, 2 / n_in), for ReLU-like activations
    return rng.normal(loc=0.0, scale=np.sqrt(2.0 / n_in), size=(n_out, n_in))


INITIALIZERS: dict[str, Callable[[np.random.RandomState, int, int], np.ndarray]] = {
    "normal": _init_chapter,
    "glorot": _init_glorot,
    "xavier": _init_glorot,
    "he": _init_he,
}


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Dense(Layer):
    """Fully connected layer: z = x W^T + b, with W of shape [n_out, n_in] as in the chapter.

    W is kept in memory as its transpose, a C-contiguous [n_in, n_out] array, and
    ``weight`` is the [n_out, n_in] view of it: the forward product x @ W^T then reads
    a plain row-major matrix, which OpenBLAS multiplies faster for these shapes.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        init: str = "normal",
        rng: np.random.RandomState | int | None = None,
        dtype=np.float32,
    ):
        self.n_in = _check_positive_int("n_in", n_in)
        self.n_out = _check_positive_int("n_out", n_out)
        if init not in INITIALIZERS:
            raise ValueError(f"unknown initialiser {init!r}; expected one of {sorted(INITIALIZERS)}")
        self.init = init
        if not isinstance(rng, np.random.RandomState):
            rng = np.random.RandomState(rng)
        dtype = np.dtype(dtype)
        # drawn [n_out, n_in] in float64 from the RandomState (the chapter's order), stored as W^T
        weight = INITIALIZERS[init](rng, self.n_in, self.n_out).astype(dtype)
        self._set_weight_storage(np.ascontiguousarray(weight.T), np.zeros((self.n_in, self.n_out), dtype))
        self.bias = np.zeros(self.n_out, dtype=dtype)
        self.grad_bias = np.zeros_like(self.bias)
        self._x: np.ndarray | None = None
        self._ones = np.ones(0, dtype=dtype)

    def _set_weight_storage(self, weight_t: np.ndarray, grad_weight_t: np.ndarray) -> None:
        self._weight_t, self._grad_weight_t = weight_t, grad_weight_t  # [n_in, n_out]
        self.weight, self.grad_weight = weight_t.T, grad_weight_t.T   # [n_out, n_in] views

    def bind_parameter(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        if name != "weight":
            return super().bind_parameter(name, value, grad)
        value = value.reshape(self.n_in, self.n_out)
        grad = grad.reshape(self.n_in, self.n_out)
        np.copyto(value, self._weight_t)
        np.copyto(grad, self._grad_weight_t)
        self._set_weight_storage(value, grad)

    def __setstate__(self, state):  # copies (deepcopy, pickle) keep weight a view of W^T
        self.__dict__.update(state)
        self._set_weight_storage(self._weight_t, self._grad_weight_t)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # [n, n_in] @ [n_in, n_out] -> [n, n_out]
        self._x = x
        z = x @ self._weight_t
        z += self.bias
        return z

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True, x: np.ndarray | None = None):
        """grad_out = dL/dz [n, n_out]; x defaults to the input of the last forward pass."""
        if x is None:
            x = self._x
            if x is None:
                raise RuntimeError("Dense.backward called before forward")
        # dL/dW = delta^T x: [n_out, n] @ [n, n_in] -> [n_out, n_in], computed as its
        # transpose x^T delta: [n_in, n] @ [n, n_out] -> [n_in, n_out]
        np.matmul(x.T, grad_out, out=self._grad_weight_t)
        # dL/db = sum over examples of delta = 1^T delta: [n] @ [n, n_out] -> [n_out]
        # (a BLAS matrix-vector product, several times faster than np.sum(axis=0) here)
        if self._ones.shape[0] != grad_out.shape[0]:
            self._ones = np.ones(grad_out.shape[0], dtype=self.grad_bias.dtype)
        np.dot(self._ones, grad_out, out=self.grad_bias)
        if not need_input_grad:
            return None
        # dL/dx = delta W: [n, n_out] @ [n_out, n_in] -> [n, n_in]
        return grad_out @ self._weight_t.T

    def parameters(self) -> list[Parameter]:
        return [
            Parameter("weight", self.weight, self.grad_weight, decay=True),
            Parameter("bias", self.bias, self.grad_bias, decay=False),
        ]

    def config(self) -> dict:
        return {"type": "Dense", "n_in": self.n_in, "n_out": self.n_out, "init": self.init}


class Activation(Layer):
    """An element-wise (or, for softmax, row-wise) activation a = f(z).

    With ``inplace=True`` the forward pass overwrites its input z with a, and the backward
    pass overwrites dL/da with dL/dz: right inside a network, where z and dL/da are
    temporaries that nothing else holds, and it saves two allocations per layer and batch.
    """

    def __init__(self, name: str, inplace: bool = False):
        self.function = get_activation(name)
        self.name = self.function.name
        self.inplace = bool(inplace)
        self._a: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # [n, units] -> [n, units]
        self._a = self.function.forward(x, x if self.inplace else np.empty_like(x))
        return self._a

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True, a: np.ndarray | None = None):
        """grad_out = dL/da; a defaults to the output of the last forward pass."""
        if a is None:
            a = self._a
            if a is None:
                raise RuntimeError("Activation.backward called before forward")
        # dL/dz = dL/da * f'(z), f' written in terms of a
        return self.function.backward(grad_out, a, grad_out if self.inplace else np.empty_like(grad_out))

    def config(self) -> dict:
        return {"type": "Activation", "name": self.name}


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability p and scale the rest
    by 1 / (1 - p), so that nothing changes at inference, where the layer is the identity.

    ``fixed_mask`` (an array of 0 and 1/(1-p) of the input's shape) replaces the random
    mask when set; the gradient check uses it to make the layer deterministic.
    """

    def __init__(self, p: float, rng: np.random.Generator | int | None = None):
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = p
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.fixed_mask: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    def _draw_mask(self, x: np.ndarray) -> np.ndarray:
        # keep each unit with probability 1 - p, scaled by 1 / (1 - p): E[mask] = 1
        mask = self.rng.random(x.shape, dtype=x.dtype)
        np.greater_equal(mask, self.p, out=mask)  # 1.0 where kept, 0.0 where dropped
        mask *= 1.0 / (1.0 - self.p)
        return mask

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training or self.p == 0.0:
            self._mask = None
            return x
        self._mask = self.fixed_mask if self.fixed_mask is not None else self._draw_mask(x)
        return x * self._mask

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        # dL/dx = dL/dy * mask (or dL/dy unchanged when the layer was the identity)
        if self._mask is None:
            return grad_out
        return grad_out * self._mask

    def config(self) -> dict:
        return {"type": "Dropout", "p": self.p}


class RandomShift(Layer):
    """Data augmentation as an input layer: in training, each image of the batch moves by a
    random whole number of pixels, up to ``max_shift`` in each direction; the pixels it
    uncovers take the image's smallest value (its background). At inference it is the
    identity, like dropout.

    x [n, side * side] holds square images row by row. ``fill`` fixes the value of the
    uncovered pixels instead (e.g. -1.0, the chapter's background). ``fixed_offsets`` (an int
    array [n, 2] of (down, right) shifts) replaces the random ones when set (the gradient check).
    The backward pass moves the gradient back by the opposite offsets (zero where the
    forward pass filled), which is the adjoint of the selection the forward pass makes.
    """

    def __init__(self, max_shift: int, rng: np.random.Generator | int | None = None,
                 fill: float | None = None):
        self.max_shift = _check_positive_int("max_shift", max_shift)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.fill = fill
        self.fixed_offsets: np.ndarray | None = None
        self._offsets: np.ndarray | None = None

    @staticmethod
    def shift(images: np.ndarray, offsets: np.ndarray, margin: int, fill) -> np.ndarray:
        """Each image [n, side*side] moved by its (down, right) offset, |offset| <= margin;
        ``fill`` (a scalar, or one value per image) where nothing moves in."""
        n, size = images.shape
        side = int(round(np.sqrt(size)))
        if side * side != size:
            raise ValueError(f"RandomShift needs square images, but rows have {size} values")
        framed = np.empty((n, side + 2 * margin, side + 2 * margin), dtype=images.dtype)
        framed[...] = np.reshape(fill, (-1, 1, 1)) if np.ndim(fill) else fill
        framed[:, margin:margin + side, margin:margin + side] = images.reshape(n, side, side)
        # every side x side window of the frame, as a view: [n, 2m+1, 2m+1, side, side]
        windows = np.lib.stride_tricks.sliding_window_view(framed, (side, side), axis=(1, 2))
        # the window at (m - down, m - right) shows the image moved down and right
        rows, columns = margin - offsets[:, 0], margin - offsets[:, 1]
        return windows[np.arange(n), rows, columns].reshape(n, size)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if not training:
            self._offsets = None
            return x
        if self.fixed_offsets is not None:
            offsets = self.fixed_offsets
        else:
            offsets = self.rng.integers(-self.max_shift, self.max_shift + 1, size=(x.shape[0], 2))
        self._offsets = offsets
        return self.shift(x, offsets, self.max_shift, x.min(axis=1) if self.fill is None else self.fill)

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        # dL/dx: the gradient moved back by the opposite offsets, 0 where the forward pass filled
        if self._offsets is None:
            return grad_out
        return self.shift(grad_out, -self._offsets, self.max_shift, 0.0)

    def config(self) -> dict:
        return {"type": "RandomShift", "max_shift": self.max_shift}
