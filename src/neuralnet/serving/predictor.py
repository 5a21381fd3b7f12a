"""A trained model ready to answer: ``neuralnet.load(path)`` gives a ``Predictor`` of raw images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.preprocessing import CHAPTER_PREPROCESSING, Standardization, preprocessing_from_dict
from ..engine.conv import Conv2D
from ..engine.layers import Activation, Dense
from ..engine.network import Network
from .modelfile import load_model

__all__ = ["Predictor", "load"]


@dataclass
class Predictor:
    """A trained network with its preprocessing: takes raw inputs, as the data came (images'
    pixels 0 to 255 for the chapter's scaling, a table's rows for standardized features).

    ``predict_proba(raw)`` gives what ``Network.predict_proba`` gives for the preprocessed
    inputs (softmax for cross-entropy, the sigmoid outputs for mse), and ``predict(raw)`` the
    class labels of the file (``classes``), or for a regression the predicted targets in their
    own units. A predictor keeps no state between calls: many threads may use one at once.

    Parameters
    ----------
    network : Network
        The trained network.
    header : dict
        The model file's JSON header: its "preprocessing" (default: the chapter's scaling),
        "classes", "targets" (a regression's target scaling) and "training".
    """

    network: Network
    header: dict = field(default_factory=dict)

    def __post_init__(self):
        self._preprocessing = preprocessing_from_dict(self.preprocessing)
        targets = self.header.get("targets")
        self._targets = Standardization(targets["mean"], targets["std"]) if targets else None

    @property
    def classes(self) -> list:
        """The class labels of the file, one per output (by default 0, 1, ...)."""
        return self.header.get("classes", list(range(self.network.n_outputs)))

    @property
    def preprocessing(self) -> dict:
        """The preprocessing the file records (by default the chapter's pixel scaling)."""
        return self.header.get("preprocessing", CHAPTER_PREPROCESSING)

    @property
    def is_regression(self) -> bool:
        """True for a model trained on regression targets (the file's training task)."""
        return (self.header.get("training") or {}).get("task") == "regression"

    def preprocess(self, pixels) -> np.ndarray:
        """Raw inputs -> the network's input, as in training.

        Parameters
        ----------
        pixels : array_like of shape [n, n_features]
            Pixels [n, 784] in [0, 255] for the chapter's scaling, or a table's rows. One example
            may be given as a 1-D array, and images as arrays of the network's input shape (e.g.
            [n, 28, 28] or [n, 1, 28, 28] for a convolutional one).

        Returns
        -------
        ndarray of shape [n, *input_shape]
            In the network's dtype.

        Raises
        ------
        TypeError
            For arrays that do not hold real numbers (strings, booleans, complex).
        ValueError
            For a wrong shape, NaN or infinite values, or pixels outside [0, 255].
        """
        noun = self._preprocessing.noun
        n_features = self.network.n_features
        pixels = np.asarray(pixels)
        if pixels.dtype.kind not in "iuf":
            expected = "numbers in [0, 255] (uint8 or float)" if noun == "pixels" else "numbers"
            raise TypeError(f"{noun} must be {expected}, got an array of dtype {pixels.dtype}")
        if pixels.ndim >= 1 and pixels.size == n_features and pixels.ndim <= len(self.network.input_shape):
            pixels = pixels.reshape(1, n_features)  # one example
        if pixels.ndim < 2 or int(np.prod(pixels.shape[1:])) != n_features:
            raise ValueError(f"{noun} must have shape (n, {n_features}), got {pixels.shape}")
        pixels = pixels.reshape(pixels.shape[0], n_features)
        self._preprocessing.check(pixels)
        return self.network.as_input(self._preprocessing.apply(pixels, self.network.dtype))

    def predict_proba(self, pixels) -> np.ndarray:
        """Class probabilities for raw inputs: ``Network.predict_proba`` of the preprocessed inputs.

        Parameters
        ----------
        pixels : array_like of shape [n, n_features]
            Raw inputs, e.g. pixels [n, 784] (see ``preprocess``).

        Returns
        -------
        ndarray of shape [n, n_classes]
            Softmax for cross-entropy, the sigmoid outputs for mse.
        """
        return self.network.predict_proba(self.preprocess(pixels))

    def predict(self, pixels) -> np.ndarray:
        """The class label (from ``classes``) of each raw example, or a regression's predictions.

        Parameters
        ----------
        pixels : array_like of shape [n, n_features]
            Raw inputs (see ``preprocess``).

        Returns
        -------
        ndarray of shape [n] or [n, n_targets]
            The labels; for a regression, the predicted targets in their own units ([n] for one
            target).
        """
        if self.is_regression:
            output = self.network.predict_output(self.preprocess(pixels)).astype(np.float64)
            if self._targets is not None:
                output = output * self._targets.std + self._targets.mean
            return output[:, 0] if output.shape[1] == 1 else output
        indices = self.network.predict(self.preprocess(pixels))
        return np.asarray(self.classes)[indices]

    def first_convolution(self) -> int | None:
        """The index of the network's first Conv2D layer, None if it has none."""
        return next((i for i, layer in enumerate(self.network.layers) if isinstance(layer, Conv2D)), None)

    def feature_maps(self, pixels) -> np.ndarray:
        """What the first convolution (and the activation right after it) makes of raw images, at
        inference.

        Parameters
        ----------
        pixels : array_like of shape [n, n_features]
            Raw images (see ``preprocess``).

        Returns
        -------
        ndarray of shape [n, channels, height, width]

        Raises
        ------
        ValueError
            For a network without a convolution.
        """
        index = self.first_convolution()
        if index is None:
            raise ValueError("the network has no convolution, so no feature maps")
        layers = self.network.layers
        stop = index + 2 if index + 1 < len(layers) and isinstance(layers[index + 1], Activation) else index + 1
        x = self.preprocess(pixels)
        for layer in layers[:stop]:
            x = layer.forward(x)
        return np.ascontiguousarray(x)

    def first_dense(self) -> int | None:
        """The index of the network's first Dense layer when it takes the pixels (``first_dense_index``)."""
        return first_dense_index(self.network)

    def hidden_activations(self, pixels) -> np.ndarray:
        """What the units of the first dense layer (and the activation right after it) make of
        raw images, at inference: which hidden units fire.

        Parameters
        ----------
        pixels : array_like of shape [n, n_features]
            Raw images (see ``preprocess``).

        Returns
        -------
        ndarray of shape [n, n_hidden]

        Raises
        ------
        ValueError
            For a network whose first layer with weights is not dense on the pixels.
        """
        index = self.first_dense()
        if index is None:
            raise ValueError("the network's first layer is not dense on the pixels, so it has no hidden units")
        layers = self.network.layers
        stop = index + 2 if index + 1 < len(layers) and isinstance(layers[index + 1], Activation) else index + 1
        x = self.preprocess(pixels)
        for layer in layers[:stop]:
            x = layer.forward(x)
        return np.ascontiguousarray(x)


def first_dense_index(network: Network) -> int | None:
    """The index of the network's first layer with weights when it is a Dense layer, so that its
    units take the inputs themselves (only layers without weights, such as a shift, before it);
    None otherwise. Its units' weights are then images of the input, e.g. 28 x 28."""
    index = next((i for i, layer in enumerate(network.layers) if layer.parameters()), None)
    return index if index is not None and isinstance(network.layers[index], Dense) else None


def load(path: str | Path) -> Predictor:
    """Load a model file or run folder as a ``Predictor`` of raw pixels.

    Parameters
    ----------
    path : str or path
        A model file (``.safetensors``) or a run folder holding ``model.safetensors``.

    Returns
    -------
    Predictor

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        For a file that is not a valid model file (see ``load_model``).
    """
    network, header = load_model(path)
    return Predictor(network, header)
