"""The chapter's pixel scaling, ``((X / 255.) - .5) * 2``, fast and exact, and the table of
preprocessings a model file may name.

Raw MNIST pixels are integers k in 0..255, so the scaled value is (2k - 255) / 255.
In float32, dividing the exact integer 2k - 255 by 255 is one correctly rounded
operation, and for every k it gives the same float32 as evaluating the chapter's
formula in float64 and rounding (checked for all 256 values in the tests). That lets the
training loop keep the data set as uint8 (a quarter of the memory and of the memory
traffic) and scale each mini-batch as it goes, with exactly the numbers the chapter's
preprocessing gives. In float64 the chapter's own rounding differs from the exact
quotient, so float64 uses a table of the chapter's 256 values.
"""

from __future__ import annotations

import numpy as np

__all__ = ["scale_pixels", "PixelScaler", "CHAPTER_TABLE", "CHAPTER_PREPROCESSING", "PREPROCESSINGS"]

#: the chapter's formula evaluated in float64 for every possible pixel value
CHAPTER_TABLE = ((np.arange(256, dtype=np.float64) / 255.0) - 0.5) * 2


def _check_pixels(X) -> np.ndarray:
    """X as a uint8 array, or a TypeError/ValueError naming what was wrong."""
    X = np.asarray(X)
    if X.dtype == np.uint8:
        return X
    if X.dtype.kind not in "iu":
        raise TypeError(
            f"expected uint8 pixel values 0..255, got an array of dtype {X.dtype}; "
            f"scale_pixels only scales raw integer pixels")
    if X.size and (X.min() < 0 or X.max() > 255):
        raise ValueError(f"expected pixel values in 0..255, got values from {X.min()} to {X.max()}")
    return X.astype(np.uint8)


def scale_pixels(X, dtype=np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """Map pixels 0..255 (any shape) to [-1, 1] exactly as ``((X / 255.) - .5) * 2`` does,
    rounded to ``dtype`` (float32 or float64); writes into ``out`` if given."""
    X = _check_pixels(X)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type, got {dtype}")
    if out is None:
        out = np.empty(X.shape, dtype=dtype)
    elif out.shape != X.shape or out.dtype != dtype:
        raise ValueError(f"out must have shape {X.shape} and dtype {dtype}, got {out.shape} {out.dtype}")
    if dtype == np.float32:
        np.multiply(X, np.float32(2), out=out)  # 2k, exact
        out -= np.float32(255)                  # 2k - 255, exact
        out /= np.float32(255)                  # (2k - 255) / 255, one rounding
    else:
        np.take(CHAPTER_TABLE.astype(dtype), X, out=out)
    return out


class PixelScaler:
    """The scaling as an object the trainer applies to each raw mini-batch."""

    def __init__(self, dtype=np.float32):
        self.dtype = np.dtype(dtype)

    def __call__(self, X) -> np.ndarray:
        return scale_pixels(X, self.dtype)

    def __repr__(self) -> str:
        return f"PixelScaler(dtype={self.dtype.name})"


# --- the preprocessing a model file names -------------------------------------------------------

#: the chapter's pixel scaling, as a model file records it
CHAPTER_PREPROCESSING = {
    "name": "chapter",
    "input": "raw pixels in [0, 255], shape (n, 784), rows of the 28x28 image",
    "formula": "((X / 255.) - .5) * 2",
}


def _chapter_scaling(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """((X / 255.) - .5) * 2 for pixels already checked to be finite and in [0, 255]."""
    if pixels.dtype == np.uint8:
        return scale_pixels(pixels, dtype=dtype)  # exactly what training used
    # integers give the same numbers as scale_pixels; fractional pixels (drawings) also work
    return (((pixels.astype(np.float64) / 255.0) - 0.5) * 2).astype(dtype)


#: preprocessing name (as stored in a model file) -> f(checked raw values, dtype) -> network input
PREPROCESSINGS = {
    "chapter": _chapter_scaling,
}
