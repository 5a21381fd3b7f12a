"""Floating-point operations of a network, counted from its layers' products (``Workload.products``).

Only the matrix products are counted (they are nearly all of the arithmetic): a Dense
layer with n_in inputs and n_out outputs costs 2 * n_in * n_out operations per example
(one multiply and one add per weight), a convolution 2 * out_h * out_w * (its weights), for each of

* the forward product  z = x W^T,
* the weight gradient  dL/dW = delta^T x,
* the input gradient   dL/dx = delta W, for every layer except the first (nothing needs
  the gradient of the input images).

Biases, activations, the loss and the optimizer step are left out.
"""

from __future__ import annotations

from collections.abc import Sequence


def forward_flops(products: Sequence[int]) -> int:
    """FLOPs of one example's forward pass (prediction, evaluation); ``products``: each layer's
    forward product, 2 x its multiply-adds."""
    return sum(products)


def training_flops(products: Sequence[int]) -> int:
    """FLOPs of one example's forward and backward pass."""
    return 2 * sum(products) + sum(products[1:])


def loop_flops(products: Sequence[int], examples_trained: int, examples_evaluated: int) -> int:
    """FLOPs of a training loop that trained on ``examples_trained`` examples and ran the
    forward pass alone on ``examples_evaluated`` (both summed over all epochs)."""
    return examples_trained * training_flops(products) + examples_evaluated * forward_flops(products)
