"""Model files: the weights in safetensors, with a JSON header in its metadata.

Format (version 1), documented for users in ``docs/model-format.md``
---------------------------------------------------------------------
A model file (``model.safetensors`` in a run folder) is a plain safetensors file:

* one tensor per parameter, named as ``Network.named_parameters`` names them:
  ``layers.<i>.weight`` of shape [n_out, n_in] and ``layers.<i>.bias`` of shape [n_out],
  where ``<i>`` is the index of the ``Dense`` layer in the network's list of layers
  (activations and dropout layers have no parameters), all in the architecture's dtype;
* under the safetensors metadata key ``"neuralnet"``, one JSON document::

      {"format": "neuralnet-model", "format_version": 1,
       "architecture": {"n_features": 784, "hidden": [50], "n_outputs": 10,
                        "activation": "sigmoid", "output_activation": null, "loss": "mse",
                        "init": "normal", "dropout": 0.0, "dtype": "float32", "extra": {}},
       "preprocessing": {"name": "chapter", "formula": "((X / 255.) - .5) * 2", ...},
       "classes": ["0", "1", ..., "9"],
       "training": {...the TrainingConfig...},
       "metrics": {"test_acc": ..., ...}}

Loading (``load_model``, ``load``) reads that JSON and raw little-endian arrays, nothing
else: no pickle, no code from the file. It refuses, with a ``ModelFileError`` that names
the file and the problem, a file that is truncated or not safetensors, has no or a corrupted
header, an unknown format version, an unknown preprocessing, weights whose names, shapes or
dtype do not match the architecture, or weights that are NaN or infinite.

Files are written atomically (temporary file in the same folder, fsync, rename, fsync of
the folder) and never replace an existing file unless asked to (``overwrite=True``).
"""

from __future__ import annotations

import errno
import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .network import Architecture, Network, build_mlp, layer_plan
from .preprocessing import scale_pixels

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "save_model", "load_model", "load",
           "Predictor", "atomic_write_bytes", "CHAPTER_PREPROCESSING", "MODEL_FILENAME",
           "PREPROCESSINGS", "read_safetensors", "safetensors_bytes"]

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


# --- writing files safely ----------------------------------------------------------------

def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: new files get the permissions an ordinary open() would give them (0o666 less the umask)
_FILE_MODE = 0o666 & ~_current_umask()


def atomic_write_bytes(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, rename.

    A reader (or a crash) sees the old file or the new one, never a mixture. Without
    ``overwrite`` an existing ``path`` is left alone and ``FileExistsError`` is raised; the
    check and the creation are one atomic step (a hard link), so a file that appears
    meanwhile is not replaced either.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a file name to write to")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; refusing to overwrite it "
                              "(pass overwrite=True, or --overwrite on the command line, to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            if hasattr(os, "fchmod"):
                os.fchmod(temp.fileno(), _FILE_MODE)  # mkstemp makes it private (0o600)
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        if overwrite:
            os.replace(temp_name, path)
        else:
            _link_without_replacing(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _link_without_replacing(temp_name: str, path: Path) -> None:
    """Move ``temp_name`` to ``path`` unless ``path`` exists (atomically where links work)."""
    try:
        os.link(temp_name, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists; refusing to overwrite it "
                              "(pass overwrite=True, or --overwrite on the command line, to replace it)") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # no hard links on this file system: check, then rename
            raise FileExistsError(f"{path} already exists; refusing to overwrite it") from None
        os.replace(temp_name, path)
        return
    os.unlink(temp_name)


# --- safetensors with a JSON header ---------------------------------------------------------

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


def safetensors_bytes(tensors: dict[str, np.ndarray], header: dict) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` and ``header`` (as JSON metadata)."""
    from safetensors.numpy import save

    tensors = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    return save(tensors, metadata={METADATA_KEY: json.dumps(_json_ready(header))})


def read_safetensors(path: Path, error: type[ValueError] = ModelFileError) -> tuple[dict[str, np.ndarray], dict]:
    """Read a safetensors file written by ``safetensors_bytes``: (tensors, JSON header).

    The file is read once; safetensors checks its structure (header size, offsets covering
    the data exactly, known dtypes) and the metadata is then taken from the same bytes.
    Any problem raises ``error`` naming the file.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_tensors

    try:
        content = path.read_bytes()
    except IsADirectoryError:
        raise error(f"{path} is a folder; expected a .safetensors file") from None
    except PermissionError as problem:
        raise error(f"cannot read {path}: {problem.strerror}") from None
    try:
        tensors = load_tensors(content)
        (header_size,) = struct.unpack_from("<Q", content, 0)
        metadata = json.loads(content[8:8 + header_size]).get("__metadata__") or {}
    except (SafetensorError, ValueError, struct.error, UnicodeDecodeError, AttributeError) as problem:
        raise error(f"{path} is not a readable safetensors file (truncated or corrupted?): {problem}") from None
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        raise error(f"{path} has no '{METADATA_KEY}' header: it was not written by neuralnet")
    try:
        header = json.loads(metadata[METADATA_KEY])
    except (json.JSONDecodeError, TypeError) as problem:
        raise error(f"{path}: the '{METADATA_KEY}' JSON header is corrupted ({problem})") from None
    if not isinstance(header, dict):
        raise error(f"{path}: the '{METADATA_KEY}' header is {type(header).__name__}, expected a JSON object")
    return tensors, header


def check_format(path: Path, header: dict, expected_format: str, version: int,
                 error: type[ValueError] = ModelFileError) -> None:
    """Refuse a header of another kind of file or of a version this code does not read."""
    if header.get("format") != expected_format:
        raise error(f"{path}: format {header.get('format')!r} is not {expected_format!r}")
    found = header.get("format_version")
    if found != version:
        raise error(f"{path}: format version {found!r} is not supported "
                    f"(this neuralnet reads {expected_format} version {version})")


def expected_parameter_shapes(architecture: Architecture) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter of ``build_mlp(architecture)``, without building it."""
    shapes = {}
    for index, (kind, *options) in enumerate(layer_plan(architecture)):
        if kind == "dense":
            n_in, n_out = options
            shapes[f"layers.{index}.weight"] = (n_out, n_in)
            shapes[f"layers.{index}.bias"] = (n_out,)
    return shapes


def network_from_tensors(path: Path, architecture_data: Any, tensors: dict[str, np.ndarray],
                         error: type[ValueError] = ModelFileError, prefix: str = "") -> tuple[Architecture, Network]:
    """Check ``tensors`` (named ``prefix`` + parameter name) against the architecture and
    build the network holding them; ``error`` names what does not match."""
    if not isinstance(architecture_data, dict):
        raise error(f"{path}: the header has no architecture (an object with n_features, hidden, ...)")
    try:
        architecture = Architecture.from_dict(architecture_data)
        expected = expected_parameter_shapes(architecture)
        dtype = np.dtype(architecture.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    except (TypeError, ValueError) as problem:
        raise error(f"{path}: invalid architecture {architecture_data!r} ({problem})") from None
    weights = {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise error(f"{path}: the weights do not match the architecture: missing {missing}, "
                    f"unexpected {unexpected}")
    for name, shape in expected.items():
        value = weights[name]
        if value.shape != shape:
            raise error(f"{path}: {prefix}{name} has shape {value.shape}, but the architecture "
                        f"{architecture.n_features}-{'-'.join(map(str, architecture.hidden))}-"
                        f"{architecture.n_outputs} needs {shape}")
        if value.dtype != dtype:
            raise error(f"{path}: {prefix}{name} is {value.dtype}, but the architecture says {architecture.dtype}")
        if value.size and not (np.isfinite(value.min()) and np.isfinite(value.max())):
            raise error(f"{path}: {prefix}{name} contains NaN or infinite values")
    try:
        network = build_mlp(architecture, random_seed=0)
        network.load_state_dict(weights)
    except (TypeError, ValueError) as problem:
        raise error(f"{path}: the architecture cannot be built ({problem})") from None
    return architecture, network


# --- the preprocessing a model file names ---------------------------------------------------

def _chapter_scaling(pixels: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """((X / 255.) - .5) * 2 for pixels already checked to be finite and in [0, 255]."""
    if pixels.dtype == np.uint8:
        return scale_pixels(pixels, dtype=dtype)  # exactly what training used
    # integers give the same numbers as scale_pixels; fractional pixels (drawings) also work
    return (((pixels.astype(np.float64) / 255.0) - 0.5) * 2).astype(dtype)


#: preprocessing name (as stored in a model file) -> f(checked raw pixels, dtype) -> network input
PREPROCESSINGS: dict[str, Callable[[np.ndarray, np.dtype], np.ndarray]] = {
    "chapter": _chapter_scaling,
}


def _preprocessing_name(path, preprocessing) -> str:
    name = preprocessing.get("name") if isinstance(preprocessing, dict) else None
    if name not in PREPROCESSINGS:
        raise ModelFileError(f"{path}: preprocessing {name!r} is not supported; expected one of "
                             f"{sorted(PREPROCESSINGS)}")
    return name


# --- model files ---------------------------------------------------------------------------

def save_model(path: str | Path, network: Network, architecture: Architecture, *,
               classes: list | None = None, preprocessing: dict | None = None,
               training: dict | None = None, metrics: dict | None = None,
               overwrite: bool = False) -> Path:
    """Write ``network``'s parameters and the JSON header to ``path`` (atomically).

    Refuses to replace an existing file unless ``overwrite`` is true.
    """
    preprocessing = preprocessing if preprocessing is not None else CHAPTER_PREPROCESSING
    _preprocessing_name(path, preprocessing)
    classes = list(classes) if classes is not None else list(range(network.n_outputs))
    if len(classes) != network.n_outputs:
        raise ValueError(f"{len(classes)} class labels given, but the network has {network.n_outputs} outputs")
    shapes = expected_parameter_shapes(architecture)
    named = dict(network.named_parameters())
    if {name: p.value.shape for name, p in named.items()} != shapes:
        raise ValueError("the network was not built from this architecture "
                         f"(its parameters are {sorted(named)}, the architecture's {sorted(shapes)})")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture.to_dict(),
        "preprocessing": preprocessing,
        "classes": classes,
        "training": training or {},
        "metrics": metrics or {},
    }
    data = safetensors_bytes({name: p.value for name, p in named.items()}, header)
    return atomic_write_bytes(path, data, overwrite=overwrite)


def _resolve_model_path(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_FILENAME).exists():
            raise FileNotFoundError(f"{path} holds no {MODEL_FILENAME} (expected a run folder whose "
                                    "training finished, or a .safetensors model file)")
        path = path / MODEL_FILENAME
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path} (expected a run folder or a .safetensors file)")
    return path


def load_model(path: str | Path) -> tuple[Network, dict]:
    """Rebuild the network stored in ``path`` (a model file or a run folder) and its header.

    Raises ``FileNotFoundError`` if there is no such file and ``ModelFileError`` for a file
    that is not a valid model file of this format version (see the module's docstring).
    """
    path = _resolve_model_path(path)
    tensors, header = read_safetensors(path)
    check_format(path, header, FORMAT, FORMAT_VERSION)
    _, network = network_from_tensors(path, header.get("architecture"), tensors)
    _preprocessing_name(path, header.get("preprocessing"))
    classes = header.get("classes")
    if not isinstance(classes, list) or len(classes) != network.n_outputs:
        raise ModelFileError(f"{path}: 'classes' must list {network.n_outputs} labels, got {classes!r}")
    return network, header


@dataclass
class Predictor:
    """A trained network with its preprocessing: takes raw images (n, 784) in [0, 255].

    ``predict_proba(pixels)`` gives what ``Network.predict_proba`` gives for the
    preprocessed pixels (softmax for cross-entropy, the sigmoid outputs for mse), and
    ``predict(pixels)`` the class labels of the file (``classes``).
    """

    network: Network
    header: dict = field(default_factory=dict)

    @property
    def classes(self) -> list:
        return self.header.get("classes", list(range(self.network.n_outputs)))

    @property
    def preprocessing(self) -> dict:
        return self.header.get("preprocessing", CHAPTER_PREPROCESSING)

    def preprocess(self, pixels) -> np.ndarray:
        """Raw pixels (n, 784) in [0, 255] -> the network's input, as in training.

        One image may be given as a 1-D array of 784 pixels. Raises ``TypeError`` for
        arrays that do not hold real numbers (strings, booleans, complex) and
        ``ValueError`` for a wrong shape, NaN or infinite values, or values outside [0, 255].
        """
        n_features = self.network.n_features
        pixels = np.asarray(pixels)
        if pixels.dtype.kind not in "iuf":
            raise TypeError(f"pixels must be numbers in [0, 255] (uint8 or float), got an array of dtype "
                            f"{pixels.dtype}")
        if pixels.ndim == 1 and pixels.shape[0] == n_features:
            pixels = pixels[None, :]
        if pixels.ndim != 2 or pixels.shape[1] != n_features:
            raise ValueError(f"pixels must have shape (n, {n_features}), got {pixels.shape}")
        if pixels.dtype != np.uint8 and pixels.size:
            low, high = pixels.min(), pixels.max()
            if not (np.isfinite(low) and np.isfinite(high)):
                raise ValueError("pixels contain NaN or infinite values; expected numbers in [0, 255]")
            if low < 0 or high > 255:
                raise ValueError(f"pixel values must be in [0, 255], got values from {low} to {high}")
        function = PREPROCESSINGS[_preprocessing_name("this model", self.preprocessing)]
        return function(pixels, self.network.dtype)

    def predict_proba(self, pixels) -> np.ndarray:
        """Class probabilities (n, classes) for raw pixels (n, 784)."""
        return self.network.predict_proba(self.preprocess(pixels))

    def predict(self, pixels) -> np.ndarray:
        """The class label (from ``classes``) of each raw image."""
        indices = self.network.predict(self.preprocess(pixels))
        return np.asarray(self.classes)[indices]


def load(path: str | Path) -> Predictor:
    """Load a model file or run folder as a ``Predictor`` of raw pixels."""
    network, header = load_model(path)
    return Predictor(network, header)
