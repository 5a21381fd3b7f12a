"""Model files: the weights in safetensors, with a JSON header in its metadata.

A model file ``model.safetensors`` holds one tensor per parameter ("layers.0.weight",
...) and, under the metadata key ``"neuralnet"``, a JSON document::

    {"format": "neuralnet-model", "format_version": 1,
     "architecture": {...}, "preprocessing": {...}, "classes": [...],
     "training": {...}, "metrics": {...}}

Loading reads only that JSON and raw arrays: no pickle, no code from the file.
Files are written atomically (temporary file, fsync, rename) and never replace an
existing file unless asked to.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .datasets.split import scale_pixels
from .network import Architecture, Network, build_mlp

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "save_model", "load_model", "load",
           "Predictor", "atomic_write_bytes", "CHAPTER_PREPROCESSING", "MODEL_FILENAME"]

FORMAT = "neuralnet-model"
FORMAT_VERSION = 1
MODEL_FILENAME = "model.safetensors"
METADATA_KEY = "neuralnet"

#: the chapter's pixel scaling, stored in every model file
CHAPTER_PREPROCESSING = {
    "name": "chapter",
    "input": "raw pixels in [0, 255], shape (n, 784), rows of the 28x28 image",
    "formula": "((X / 255.) - .5) * 2",
}


class ModelFileError(ValueError):
    """A model file that is missing, truncated, corrupted, of an unknown version or shape."""


def atomic_write_bytes(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, rename."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def _json_ready(value: Any) -> Any:
    """Convert NumPy scalars and arrays inside ``value`` to plain Python for JSON."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(path: str | Path, network: Network, architecture: Architecture, *,
               classes: list | None = None, preprocessing: dict | None = None,
               training: dict | None = None, metrics: dict | None = None,
               overwrite: bool = False) -> Path:
    """Write ``network``'s parameters and the JSON header to ``path`` (atomically)."""
    from safetensors.numpy import save

    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture.to_dict(),
        "preprocessing": preprocessing if preprocessing is not None else CHAPTER_PREPROCESSING,
        "classes": list(classes) if classes is not None else list(range(network.n_outputs)),
        "training": training or {},
        "metrics": metrics or {},
    }
    tensors = {name: np.ascontiguousarray(p.value) for name, p in network.named_parameters()}
    data = save(tensors, metadata={METADATA_KEY: json.dumps(_json_ready(header))})
    return atomic_write_bytes(path, data, overwrite=overwrite)


def _resolve_model_path(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path} (expected a run folder or a .safetensors file)")
    return path


def load_model(path: str | Path) -> tuple[Network, dict]:
    """Rebuild the network stored in ``path`` (a model file or a run folder) and its header."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = _resolve_model_path(path)
    try:
        tensors = load(path.read_bytes())
        from safetensors import safe_open
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path} is not a readable safetensors model file: {error}") from None
    if METADATA_KEY not in metadata:
        raise ModelFileError(f"{path} has no '{METADATA_KEY}' header; it was not written by neuralnet")
    try:
        header = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: the JSON header is corrupted ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a {FORMAT} file")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version!r} is not supported "
                             f"(this neuralnet reads version {FORMAT_VERSION})")
    try:
        architecture = Architecture.from_dict(header["architecture"])
        network = build_mlp(architecture, random_seed=0)
        network.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the weights do not match the architecture ({error})") from None
    return network, header


@dataclass
class Predictor:
    """A trained network with its preprocessing: takes raw images (n, 784) in [0, 255]."""

    network: Network
    header: dict = field(default_factory=dict)

    @property
    def classes(self) -> list:
        return self.header.get("classes", list(range(self.network.n_outputs)))

    def preprocess(self, pixels) -> np.ndarray:
        """Raw pixels (n, 784) in [0, 255] -> the network's input, as in training."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 1:
            pixels = pixels[None, :]
        if pixels.ndim != 2 or pixels.shape[1] != self.network.n_features:
            raise ValueError(f"pixels must have shape (n, {self.network.n_features}), got {pixels.shape}")
        if pixels.dtype == np.uint8:
            return scale_pixels(pixels, dtype=self.network.dtype)
        pixels = pixels.astype(np.float64)
        if not np.all(np.isfinite(pixels)):
            raise ValueError("pixels contain NaN or infinite values")
        if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
            raise ValueError(f"pixel values must be in [0, 255], got [{pixels.min()}, {pixels.max()}]")
        return (((pixels / 255.0) - 0.5) * 2).astype(self.network.dtype)

    def predict_proba(self, pixels) -> np.ndarray:
        return self.network.predict_proba(self.preprocess(pixels))

    def predict(self, pixels) -> np.ndarray:
        indices = self.network.predict(self.preprocess(pixels))
        return np.asarray(self.classes)[indices]


def load(path: str | Path) -> Predictor:
    """Load a model file or run folder as a ``Predictor`` of raw pixels."""
    network, header = load_model(path)
    return Predictor(network, header)
