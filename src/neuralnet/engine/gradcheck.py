"""Numerical gradient checking by central finite differences.

For a scalar loss L(w), dL/dw_i ~ (L(w + eps e_i) - L(w - eps e_i)) / (2 eps), with an
error of order eps^2. Compared with backpropagation's gradient g by the relative error
||g - g_num|| / (||g|| + ||g_num||), which is ~1e-9 in float64 when both agree and
of order one when a derivative is wrong. Use float64 networks: in float32 the rounding
of L itself swamps the difference quotient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "relative_error", "check_network_gradients", "check_chapter_gradients"]


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||), and 0.0 when both are exactly zero.

    Parameters
    ----------
    analytic, numeric : array_like of one shape
        a and b: the two gradients (compared in float64).

    Returns
    -------
    float
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(analytic - numeric) / scale)


def numerical_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dL/d(array) by central differences, nudging each entry of ``array`` in place
    (and restoring it exactly afterwards).

    Parameters
    ----------
    loss : callable
        ``loss()`` -> L; it must read ``array``.
    array : ndarray of any shape
        The parameter, contiguous (it is perturbed in place).
    eps : float, default 1e-6
        The step.

    Returns
    -------
    ndarray of array's shape
        (L(w + eps e_i) - L(w - eps e_i)) / (2 eps) for each entry, in float64.

    Raises
    ------
    ValueError
        If ``array`` is not contiguous.
    """
    grad = np.zeros_like(array, dtype=np.float64)  # same memory layout as array
    flat = array.ravel(order="K")  # a view for any contiguous layout: writes go to array
    if not np.shares_memory(flat, array):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    grad_flat = grad.ravel(order="K")  # entry i of grad_flat belongs to entry i of flat
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        loss_plus = loss()
        flat[i] = original - eps
        loss_minus = loss()
        flat[i] = original
        grad_flat[i] = (loss_plus - loss_minus) / (2.0 * eps)
    return grad


def check_network_gradients(network, X: np.ndarray, Y: np.ndarray, eps: float = 1e-6) -> dict[str, float]:
    """Relative error between backpropagation and finite differences for every parameter.

    The network runs in training mode (so dropout layers use their ``fixed_mask`` if set)
    and the loss is the network's own mean loss on (X, Y).

    Parameters
    ----------
    network : Network
        The network, best in float64.
    X : ndarray of shape [n, *input_shape]
        The inputs.
    Y : ndarray of shape [n, n_outputs]
        The targets.
    eps : float, default 1e-6
        The finite differences' step.

    Returns
    -------
    dict of str to float
        Parameter name ("layers.0.weight", ...) -> relative error.
    """

    def loss() -> float:
        return network.loss.value(network.forward(X, training=True), Y)

    output = network.forward(X, training=True)
    network.backward(network.loss.gradient(output, Y))
    analytic = {name: p.grad.copy() for name, p in network.named_parameters()}
    return {
        name: relative_error(analytic[name], numerical_gradient(loss, p.value, eps))
        for name, p in network.named_parameters()
    }


def check_chapter_gradients(model, x: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> dict[str, float]:
    """The same check for the chapter's ``NeuralNetMLP.backward`` and its four gradients."""
    network = model.network
    Y = np.eye(model.num_classes, dtype=model.dtype)[np.asarray(y)]

    def loss() -> float:
        return network.loss.value(model.forward(x)[1], Y)

    a_h, a_out = model.forward(x)
    grads = model.backward(x, a_h, a_out, y)
    names = ("weight_out", "bias_out", "weight_h", "bias_h")
    return {
        name: relative_error(grad, numerical_gradient(loss, getattr(model, name), eps))
        for name, grad in zip(names, grads)
    }
