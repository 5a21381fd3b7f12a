"""Floating-point operations of a multilayer perceptron, counted from its layer sizes.

Only the matrix products are counted (they are nearly all of the arithmetic): a Dense
layer with n_in inputs and n_out outputs costs 2 * n_in * n_out operations per example
(one multiply and one add per weight) for each of

* the forward product  z = x W^T,
* the weight gradient  dL/dW = delta^T x,
* the input gradient   dL/dx = delta W, for every layer except the first (nothing needs
  the gradient of the input images).

Biases, activations, the loss and the optimizer step are left out.
"""

from __future__ import annotations

from collections.abc import Sequence


def _products(layer_sizes: Sequence[int]) -> list[int]:
    """2 * n_in * n_out for each Dense layer."""
    return [2 * n_in * n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])]


def forward_flops(layer_sizes: Sequence[int]) -> int:
    """FLOPs of one example's forward pass (prediction, evaluation)."""
    return sum(_products(layer_sizes))


def training_flops(layer_sizes: Sequence[int]) -> int:
    """FLOPs of one example's forward and backward pass."""
    products = _products(layer_sizes)
    return 2 * sum(products) + sum(products[1:])


def loop_flops(layer_sizes: Sequence[int], examples_trained: int, examples_evaluated: int) -> int:
    """FLOPs of a training loop that trained on ``examples_trained`` examples and ran the
    forward pass alone on ``examples_evaluated`` (both summed over all epochs)."""
    return (examples_trained * training_flops(layer_sizes)
            + examples_evaluated * forward_flops(layer_sizes))
