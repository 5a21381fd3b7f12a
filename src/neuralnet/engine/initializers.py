"""Weight initializers: (random state, shape, fan_in, fan_out) -> a float64 array of that shape.

The chapter draws its weights from ``rng.normal(loc=0.0, scale=0.1, size=(n_out, n_in))``;
Glorot and He scale the spread by the layer's fan-in (inputs per unit) and fan-out. For a
dense layer the shape is [n_out, n_in], fan_in = n_in and fan_out = n_out; for a convolution
[out_channels, in_channels, kh, kw], fan_in = in_channels kh kw and fan_out = out_channels kh kw.
Every initializer draws exactly ``prod(shape)`` numbers from the state, so the layers of a
network drawn in order from one ``RandomState`` get the chapter's weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["INITIALIZERS", "get_initializer"]


def normal(rng: np.random.RandomState, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
    # the chapter: N(0, 0.1) whatever the layer's size
    return rng.normal(loc=0.0, scale=0.1, size=shape)


def glorot(rng: np.random.RandomState, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
    # Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out))
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def he(rng: np.random.RandomState, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
    # He et al. (2015): N(0, 2 / fan_in), for ReLU-like activations
    return rng.normal(loc=0.0, scale=np.sqrt(2.0 / fan_in), size=shape)


Initializer = Callable[[np.random.RandomState, tuple, int, int], np.ndarray]

INITIALIZERS: dict[str, Initializer] = {
    "normal": normal,
    "glorot": glorot,
    "xavier": glorot,
    "he": he,
}


def get_initializer(name: str) -> Initializer:
    """An initializer by name, or a ValueError naming the known ones."""
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initializer {name!r}; expected one of {sorted(INITIALIZERS)}") from None
