"""Activation functions and their derivatives, as a table of in-place NumPy kernels.

Every activation is a pair of functions:

* ``forward(z, out)`` writes ``a = f(z)`` into ``out`` (which may be ``z`` itself) and
  returns it;
* ``backward(grad_a, a, out)`` writes ``dL/dz = dL/da * f'(z)`` into ``out`` (which may be
  ``grad_a``), using only the *output* ``a`` of the forward pass, so a layer never has
  to keep ``z`` around.

Shapes are ``[n_examples, n_units]`` throughout. The kernels never allocate more than
a boolean mask, so they can run in place in the training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ActivationFunction", "ACTIVATIONS", "LEAKY_SLOPE", "get_activation", "sigmoid", "softmax"]


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic sigmoid, sigma(z) = 1 / (1 + exp(-z)): the chapter's formula, for any z.

    For z below about -88 (float32) or -709 (float64), exp(-z) overflows to inf and
    1 / (1 + inf) is exactly 0, the correctly rounded result; the overflow is expected,
    so it is silenced rather than reported as a RuntimeWarning.

    Parameters
    ----------
    z : ndarray of any shape
        The input, e.g. [n_examples, n_units].
    out : ndarray of z's shape, optional
        Where to write the result (may be z itself); by default a new array.

    Returns
    -------
    ndarray of z's shape
        sigma(z) (``out`` when given).
    """
    if out is None:
        out = np.empty_like(z)
    np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)  # exp(-z), inf for very negative z
    out += 1.0
    np.reciprocal(out, out=out)  # 1 / (1 + exp(-z)), 0 where exp(-z) is inf
    return out


def _sigmoid_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    # sigma'(z) = a * (1 - a)
    one_minus_a = 1.0 - a
    np.multiply(grad, a, out=out)
    out *= one_minus_a
    return out


def _tanh_forward(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=out)


def _tanh_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    # tanh'(z) = 1 - a^2
    square = a * a
    np.subtract(1.0, square, out=square)
    return np.multiply(grad, square, out=out)


def _relu_forward(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0, out=out)


def _relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    # relu'(z) = 1 where z > 0, i.e. where a > 0; 0 elsewhere
    # (a multiplication by the boolean mask: ten times faster than np.copyto(..., where=))
    return np.multiply(grad, a > 0.0, out=out)


LEAKY_SLOPE = 0.01


def _leaky_relu_forward(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # leaky(z) = max(z, slope z) for 0 < slope < 1
    scaled = z * LEAKY_SLOPE
    return np.maximum(z, scaled, out=out)


def _leaky_relu_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    # leaky'(z) = 1 for z > 0 and slope for z < 0 (a < 0 exactly where z < 0):
    # 1 + (slope - 1) [a < 0]
    factor = np.less(a, 0.0).astype(grad.dtype)
    factor *= LEAKY_SLOPE - 1.0
    factor += 1.0
    return np.multiply(grad, factor, out=out)


def _identity_forward(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    if out is not z:
        np.copyto(out, z)
    return out


def _identity_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    if out is not grad:
        np.copyto(out, grad)
    return out


def softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise softmax, exp(z - max z) / sum exp(z - max z): no overflow for any finite z.

    Parameters
    ----------
    z : ndarray of shape [n, k]
        The logits.
    out : ndarray of shape [n, k], optional
        Where to write the result (may be z itself); by default a new array.

    Returns
    -------
    ndarray of shape [n, k]
        Each row's probabilities (``out`` when given).
    """
    if out is None:
        out = np.empty_like(z)
    np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _softmax_backward(grad: np.ndarray, a: np.ndarray, out: np.ndarray) -> np.ndarray:
    # Jacobian-vector product: dL/dz_j = a_j * (dL/da_j - sum_k dL/da_k * a_k)
    weighted_sum = np.einsum("ij,ij->i", grad, a)[:, None]
    np.subtract(grad, weighted_sum, out=out)
    out *= a
    return out


@dataclass(frozen=True)
class ActivationFunction:
    """An activation function: its name, forward kernel and backward kernel (the layer that
    applies one is ``neuralnet.engine.layers.Activation``)."""

    name: str
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


ACTIVATIONS: dict[str, ActivationFunction] = {
    "sigmoid": ActivationFunction("sigmoid", sigmoid, _sigmoid_backward),
    "tanh": ActivationFunction("tanh", _tanh_forward, _tanh_backward),
    "relu": ActivationFunction("relu", _relu_forward, _relu_backward),
    "leaky_relu": ActivationFunction("leaky_relu", _leaky_relu_forward, _leaky_relu_backward),
    "identity": ActivationFunction("identity", _identity_forward, _identity_backward),
    "softmax": ActivationFunction("softmax", softmax, _softmax_backward),
}


def get_activation(name: str) -> ActivationFunction:
    """Look an activation up by name ("leaky-relu" and "leaky_relu" are the same)."""
    key = str(name).lower().replace("-", "_")
    if key == "logistic":
        key = "sigmoid"
    try:
        return ACTIVATIONS[key]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
