"""Batch normalisation (Ioffe & Szegedy, 2015), forward and backward side by side, with PyTorch's
meaning of ``momentum`` and ``eps``.

For features x [n, f] (after a dense layer) or images x [n, c, h, w] (after a convolution, one
statistic per channel over n, h and w), with N the number of values each statistic is over:

    training:   mu = mean(x),  var = mean((x - mu)^2)                  (the batch's, biased)
                x_hat = (x - mu) / sqrt(var + eps),  y = gamma x_hat + beta
                running_mean <- (1 - momentum) running_mean + momentum mu
                running_var  <- (1 - momentum) running_var + momentum var N / (N - 1)  (unbiased)
    inference:  y = gamma (x - running_mean) / sqrt(running_var + eps) + beta

    backward:   dL/dbeta = sum dL/dy,  dL/dgamma = sum dL/dy x_hat,  dx_hat = dL/dy gamma
                dL/dx = (N dx_hat - sum dx_hat - x_hat sum(dx_hat x_hat)) / (N sqrt(var + eps))

``weight`` (gamma) and ``bias`` (beta) are trained; ``running_mean`` and ``running_var`` are
state, not trained: they live in the network's flat buffer like the parameters (so snapshots,
checkpoints and model files keep them), with no gradient and no weight decay, which leaves every
optimizer's update of them at exactly zero.
"""

from __future__ import annotations

import numpy as np

from .layers import Layer, Parameter, SpecError, _check_positive_int, _shape

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """Batch normalisation over the features of [n, f] or the channels of [n, c, h, w].

    ``weight`` (gamma) starts at one, ``bias`` (beta) and ``running_mean`` at zero,
    ``running_var`` at one; all [num_features].

    Parameters
    ----------
    num_features : int
        f, or the number of channels c (a positive integer).
    eps : float, default 1e-5
        Added to the variance before the square root (> 0).
    momentum : float, default 0.1
        The running statistics' update rate, in [0, 1] (PyTorch's meaning, see the module).
    dtype : numpy dtype, default float32
        The dtype of the parameters and statistics.
    """

    # the gradients, one per parameter and statistic, [num_features] each (set in __init__)
    grad_weight: np.ndarray
    grad_bias: np.ndarray
    grad_running_mean: np.ndarray
    grad_running_var: np.ndarray

    remembered = ("_cache",)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32):
        self.num_features = _check_positive_int("num_features", num_features)
        self.eps, self.momentum = float(eps), float(momentum)
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        dtype = np.dtype(dtype)
        self.weight = np.ones(self.num_features, dtype=dtype)
        self.bias = np.zeros(self.num_features, dtype=dtype)
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)
        for name in ("weight", "bias", "running_mean", "running_var"):
            setattr(self, "grad_" + name, np.zeros(self.num_features, dtype=dtype))
        self._cache: tuple | None = None

    @staticmethod
    def _axes_and_shape(x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The axes the statistics are over, and the shape that broadcasts them back."""
        if x.ndim == 2:
            return (0,), (1, -1)
        return (0, 2, 3), (1, -1, 1, 1)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y = gamma x_hat + beta.

        Parameters
        ----------
        x : ndarray of shape [n, f] or [n, c, h, w]
            The batch.
        training : bool, default False
            Normalise with the batch's statistics, update the running ones and remember what the
            backward pass needs; at inference, normalise with the running statistics.

        Returns
        -------
        ndarray of the shape of x
            y.
        """
        axes, shape = self._axes_and_shape(x)
        if not training:
            # y = gamma (x - running_mean) / sqrt(running_var + eps) + beta, as one scale and shift
            scale = self.weight / np.sqrt(self.running_var + self.eps)
            return x * scale.reshape(shape) + (self.bias - self.running_mean * scale).reshape(shape)
        count = x.size // self.num_features
        mean = x.mean(axis=axes)  # mu: [f]
        centred = x - mean.reshape(shape)
        var = np.mean(centred * centred, axis=axes)  # the batch's (biased) variance
        inverse_std = 1.0 / np.sqrt(var + self.eps)  # [f]
        x_hat = centred * inverse_std.reshape(shape)
        # running statistics, PyTorch's way (the unbiased variance)
        m = self.momentum
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += m * var * (count / max(count - 1, 1))
        self._cache = (x_hat, inverse_std, axes, shape, count)
        return x_hat * self.weight.reshape(shape) + self.bias.reshape(shape)

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        """Write dL/dbeta = sum dL/dy and dL/dgamma = sum dL/dy x_hat into the gradients.

        Parameters
        ----------
        grad_out : ndarray of shape [n, f] or [n, c, h, w]
            dL/dy.
        need_input_grad : bool, default True
            Compute and return dL/dx.

        Returns
        -------
        ndarray of the shape of grad_out or None
            dL/dx = (N dx_hat - sum dx_hat - x_hat sum(dx_hat x_hat)) / (N sqrt(var + eps)), or
            None without ``need_input_grad``.
        """
        x_hat, inverse_std, axes, shape, count = self._remembered(self._cache)
        np.sum(grad_out, axis=axes, out=self.grad_bias)  # dL/dbeta = sum dL/dy
        np.sum(grad_out * x_hat, axis=axes, out=self.grad_weight)  # dL/dgamma = sum dL/dy x_hat
        if not need_input_grad:
            return None
        d_x_hat = grad_out * self.weight.reshape(shape)
        sum_d = d_x_hat.sum(axis=axes).reshape(shape)
        sum_d_x_hat = (d_x_hat * x_hat).sum(axis=axes).reshape(shape)
        # dL/dx = (N dx_hat - sum dx_hat - x_hat sum(dx_hat x_hat)) / (N sqrt(var + eps))
        return (count * d_x_hat - sum_d - x_hat * sum_d_x_hat) * (inverse_std.reshape(shape) / count)

    def parameters(self) -> list[Parameter]:
        """``weight`` and ``bias`` (trained, without weight decay), ``running_mean`` and
        ``running_var`` (not trained), [num_features] each."""
        return [
            Parameter("weight", self.weight, self.grad_weight, decay=False),
            Parameter("bias", self.bias, self.grad_bias, decay=False),
            Parameter("running_mean", self.running_mean, self.grad_running_mean, decay=False, trainable=False),
            Parameter("running_var", self.running_var, self.grad_running_var, decay=False, trainable=False),
        ]

    def output_shape(self, input_shape):
        shape = _shape(input_shape)
        if len(shape) not in (1, 3) or shape[0] != self.num_features:
            raise SpecError(
                f"BatchNorm({self.num_features}) takes [n, {self.num_features}] features or "
                f"[n, {self.num_features}, h, w] images, got examples of shape {shape}"
            )
        return shape

    def config(self) -> dict:
        return {"type": "BatchNorm", "num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}

    @classmethod
    def from_config(cls, config, input_shape, streams, dtype):
        settings = dict(config)
        if input_shape is not None:
            settings.setdefault("num_features", _shape(input_shape)[0])
        return cls(dtype=dtype, **settings)
