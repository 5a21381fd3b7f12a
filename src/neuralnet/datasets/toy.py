"""Toy 2-D problems whose decision boundary one can watch: scikit-learn's moons, circles and
blobs, and the spirals of the nnfs book (Kinsley & Kukiela, "Neural Networks from Scratch in
Python"), each seeded.

    make_toy("spirals", samples=600, noise=0.2, seed=1) -> X [600, 2] float64, y [600] in 0..2
"""

from __future__ import annotations

import numpy as np

__all__ = ["TOY_DATASETS", "make_toy", "spirals"]

#: the toy problems and their number of classes
TOY_DATASETS = {"moons": 2, "circles": 2, "spirals": 3, "blobs": 3}


def spirals(samples: int, classes: int = 3, noise: float = 0.2, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """The nnfs book's spiral data: ``classes`` arms of ``samples // classes`` points each; arm k
    has radii r = linspace(0, 1) at angles t = linspace(4k, 4(k + 1)) + noise N(0, 1), and its
    points are (r sin 2.5 t, r cos 2.5 t)."""
    rng = np.random.default_rng(rng)
    per_class = samples // classes
    X = np.zeros((per_class * classes, 2))
    y = np.zeros(per_class * classes, dtype=np.int64)
    for k in range(classes):
        rows = slice(per_class * k, per_class * (k + 1))
        radius = np.linspace(0.0, 1.0, per_class)
        angle = np.linspace(k * 4, (k + 1) * 4, per_class) + rng.standard_normal(per_class) * noise
        X[rows] = np.c_[radius * np.sin(angle * 2.5), radius * np.cos(angle * 2.5)]
        y[rows] = k
    return X, y


def make_toy(name: str, samples: int = 1000, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` points of the 2-D problem ``name`` with ``noise``, from ``seed``."""
    from sklearn import datasets

    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy problem {name!r}; expected one of {sorted(TOY_DATASETS)}")
    if name == "moons":
        X, y = datasets.make_moons(samples, noise=noise, random_state=seed)
    elif name == "circles":
        X, y = datasets.make_circles(samples, noise=noise, factor=0.5, random_state=seed)
    elif name == "blobs":
        X, y = datasets.make_blobs(
            samples, centers=TOY_DATASETS["blobs"], cluster_std=1.0 + 10 * noise, random_state=seed
        )
    else:
        X, y = spirals(samples, TOY_DATASETS["spirals"], noise, rng=seed)
    return X.astype(np.float64), y.astype(np.int64)
