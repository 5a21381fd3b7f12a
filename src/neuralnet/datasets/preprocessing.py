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

__all__ = [
    "scale_pixels",
    "PixelScaler",
    "CHAPTER_TABLE",
    "CHAPTER_PREPROCESSING",
    "PREPROCESSINGS",
    "Preprocessing",
    "PixelScaling",
    "Standardization",
    "preprocessing_from_dict",
]

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
            f"scale_pixels only scales raw integer pixels"
        )
    if X.size and (X.min() < 0 or X.max() > 255):
        raise ValueError(f"expected pixel values in 0..255, got values from {X.min()} to {X.max()}")
    return X.astype(np.uint8)


def scale_pixels(X, dtype=np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """Map pixels 0..255 to [-1, 1] exactly as ``((X / 255.) - .5) * 2`` does, rounded to ``dtype``.

    Parameters
    ----------
    X : array_like of integers, any shape
        The pixels, e.g. [n, 784].
    dtype : numpy dtype, default float32
        A floating-point type (float32 or float64).
    out : ndarray of X's shape and ``dtype``, optional
        Where to write the result.

    Returns
    -------
    ndarray of X's shape
        In ``dtype`` (``out`` when given).

    Raises
    ------
    TypeError
        For pixels that are not integers, or a dtype that is not floating-point.
    ValueError
        For pixels outside 0..255, or an ``out`` of the wrong shape or dtype.
    """
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
        out -= np.float32(255)  # 2k - 255, exact
        out /= np.float32(255)  # (2k - 255) / 255, one rounding
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


# --- the preprocessings a model file names ------------------------------------------------------

#: the chapter's pixel scaling, as a model file records it
CHAPTER_PREPROCESSING = {
    "name": "chapter",
    "input": "raw pixels in [0, 255], shape (n, 784), rows of the 28x28 image",
    "formula": "((X / 255.) - .5) * 2",
}


class Preprocessing:
    """What turns raw inputs (pixels, a table's numbers) into the network's input: ``check`` the
    raw values, ``apply`` the transform, ``to_dict`` for the model file (``from_dict`` back)."""

    name = "preprocessing"
    #: what the raw values are called in messages
    noun = "values"

    def check(self, raw: np.ndarray) -> None:
        """Raise ValueError for raw values this preprocessing does not take."""
        if raw.dtype.kind == "f" and raw.size and not (np.isfinite(raw.min()) and np.isfinite(raw.max())):
            raise ValueError(f"{self.noun} contain NaN or infinite values; expected finite numbers")

    def apply(self, raw: np.ndarray, dtype) -> np.ndarray:
        """The network's input for raw values already checked (``check``).

        Parameters
        ----------
        raw : ndarray of shape [n, n_features]
            The raw values.
        dtype : numpy dtype
            The network's dtype.

        Returns
        -------
        ndarray of shape [n, n_features]
            In ``dtype``.
        """
        raise NotImplementedError

    def to_dict(self) -> dict:
        """What a model file records of the preprocessing (JSON-ready, with its "name")."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        """The preprocessing a model file's record describes (``to_dict`` back); ValueError or
        TypeError for a record it cannot take."""
        raise NotImplementedError


class PixelScaling(Preprocessing):
    """The chapter's ``((X / 255.) - .5) * 2`` of pixels 0 to 255, exact in float32 (``scale_pixels``)."""

    name = "chapter"
    noun = "pixels"

    def __init__(self, input: str | None = None):
        self.input = input or CHAPTER_PREPROCESSING["input"]

    def check(self, raw: np.ndarray) -> None:
        if raw.dtype != np.uint8 and raw.size:
            low, high = raw.min(), raw.max()
            if not (np.isfinite(low) and np.isfinite(high)):
                raise ValueError("pixels contain NaN or infinite values; expected numbers in [0, 255]")
            if low < 0 or high > 255:
                raise ValueError(f"pixel values must be in [0, 255], got values from {low} to {high}")

    def apply(self, raw: np.ndarray, dtype) -> np.ndarray:
        """((X / 255.) - .5) * 2 for pixels already checked to be finite and in [0, 255].

        uint8 pixels go through ``scale_pixels`` (exactly what training used); other integers
        give the same numbers, and fractional pixels (drawings) also work.

        Parameters
        ----------
        raw : ndarray of shape [n, n_features]
            The pixels.
        dtype : numpy dtype
            The network's dtype.

        Returns
        -------
        ndarray of shape [n, n_features]
            In [-1, 1], in ``dtype``.
        """
        if raw.dtype == np.uint8:
            return scale_pixels(raw, dtype=dtype)  # exactly what training used
        # integers give the same numbers as scale_pixels; fractional pixels (drawings) also work
        return (((raw.astype(np.float64) / 255.0) - 0.5) * 2).astype(dtype)

    def to_dict(self) -> dict:
        """``CHAPTER_PREPROCESSING`` with this scaling's description of its input."""
        return {**CHAPTER_PREPROCESSING, "input": self.input}

    @classmethod
    def from_dict(cls, data: dict) -> PixelScaling:
        """The scaling of a record (its "input" kept when it is a string)."""
        return cls(data.get("input") if isinstance(data.get("input"), str) else None)


class Standardization(Preprocessing):
    """(x - mean) / std per feature, with the mean and standard deviation of the training split
    (a feature that never varies keeps std 1): for a table's columns."""

    name = "standardize"
    noun = "features"

    def __init__(self, mean, std, features: list[str] | None = None):
        self.mean = np.asarray(mean, dtype=np.float64).ravel()
        self.std = np.asarray(std, dtype=np.float64).ravel()
        if self.mean.shape != self.std.shape or not self.mean.size:
            raise ValueError(f"mean and std must be lists of the same length, got {self.mean.size} and {self.std.size}")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError("mean must be finite numbers and std finite numbers > 0")
        self.features = list(features) if features is not None else None

    @classmethod
    def fit(cls, X: np.ndarray, features: list[str] | None = None) -> Standardization:
        """The mean and standard deviation of the columns of X [n, features] (the training split)."""
        X = np.asarray(X, dtype=np.float64)
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0), features)

    def check(self, raw: np.ndarray) -> None:
        super().check(raw)
        if raw.shape[-1] != self.mean.size:
            raise ValueError(f"{self.noun} have {raw.shape[-1]} columns, but the model was trained on {self.mean.size}")

    def apply(self, raw: np.ndarray, dtype) -> np.ndarray:
        """(x - mean) / std, in float64, then the network's dtype.

        Parameters
        ----------
        raw : ndarray of shape [n, n_features]
            The features.
        dtype : numpy dtype
            The network's dtype.

        Returns
        -------
        ndarray of shape [n, n_features]
            In ``dtype``.
        """
        # (x - mean) / std, in float64, then the network's dtype
        return ((np.asarray(raw, dtype=np.float64) - self.mean) / self.std).astype(dtype)

    def to_dict(self) -> dict:
        """The name, formula, mean and std (and the feature names, when known)."""
        data = {"name": self.name, "formula": "(X - mean) / std", "mean": self.mean.tolist(), "std": self.std.tolist()}
        if self.features is not None:
            data["features"] = self.features
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Standardization:
        """The standardization of a record; ValueError for a wrong mean, std or feature list."""
        features = data.get("features")
        if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
            raise ValueError("features must be a list of column names")
        return cls(data.get("mean"), data.get("std"), features)


#: preprocessing name (as stored in a model file) -> its class
PREPROCESSINGS: dict[str, type[Preprocessing]] = {"chapter": PixelScaling, "standardize": Standardization}


def preprocessing_from_dict(data) -> Preprocessing:
    """The preprocessing a model file records; ValueError naming what is wrong."""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in PREPROCESSINGS:
        raise ValueError(f"preprocessing {name!r} is not supported; expected one of {sorted(PREPROCESSINGS)}")
    try:
        return PREPROCESSINGS[name].from_dict(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"preprocessing {name!r}: {error}") from None
