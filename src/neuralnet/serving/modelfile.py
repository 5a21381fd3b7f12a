"""Model files: the weights in safetensors, with a JSON header in its metadata.

Format (version 2), documented for users in ``docs/model-format.md``
---------------------------------------------------------------------
A model file (``model.safetensors`` in a run folder) is a plain safetensors file:

* one tensor per parameter, named as ``Network.named_parameters`` names them:
  ``layers.<i>.weight`` and ``layers.<i>.bias``, where ``<i>`` is the index of the layer in the
  stack (activations and dropout layers have no parameters), all in the architecture's dtype;
  a dense layer's weight has shape [n_out, n_in];
* under the safetensors metadata key ``"neuralnet"``, one JSON document::

      {"format": "neuralnet-model", "format_version": 2,
       "architecture": {"input_shape": [784],
                        "layers": [{"type": "Dense", "n_in": 784, "n_out": 50, "init": "normal"},
                                   {"type": "Activation", "name": "sigmoid"},
                                   {"type": "Dense", "n_in": 50, "n_out": 10, "init": "normal"},
                                   {"type": "Activation", "name": "sigmoid"}],
                        "loss": "mse", "dtype": "float32"},
       "preprocessing": {"name": "chapter", "formula": "((X / 255.) - .5) * 2", ...},
       "classes": ["0", "1", ..., "9"],
       "training": {...the TrainingConfig...},
       "metrics": {"test_acc": ..., ...}}

Version 1 files (neuralnet 0.1) described a multilayer perceptron by its sizes
(``{"n_features": 784, "hidden": [50], "n_outputs": 10, "activation": "sigmoid", ...}``); they
load as the stack of layers those sizes made, with the same tensor names.

Loading (``load_model``) reads that JSON and raw little-endian arrays, nothing else: no
pickle, no code from the file. The whole header is checked against the schema above
(``check_header``) and the weights against the architecture; anything else is refused with a
``ModelFileError`` that names the file and the problem: a file that is truncated or not
safetensors, has no or a corrupted header, an unknown format version, an unknown
preprocessing, class labels that are not a flat list of one label per output, weights whose
names, shapes or dtype do not match the architecture, or weights that are NaN or infinite.

Files are written atomically (temporary file in the same folder, fsync, rename, fsync of
the folder) and never replace an existing file unless asked to (``overwrite=True``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.preprocessing import CHAPTER_PREPROCESSING, Standardization, preprocessing_from_dict
from ..engine.layers import SpecError
from ..engine.losses import get_loss
from ..engine.network import FLOAT_DTYPES, Network, build_network
from .files import ModelFileError, atomic_write_bytes, check_format, read_safetensors, safetensors_bytes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "MODEL_FILENAME",
    "ModelFileError",
    "architecture_of",
    "network_from_architecture",
    "network_from_tensors",
    "upgrade_architecture",
    "check_header",
    "save_model",
    "load_model",
    "resolve_model_path",
]

FORMAT = "neuralnet-model"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MODEL_FILENAME = "model.safetensors"


# --- the architecture: a stack of layer specs ------------------------------------------------


def architecture_of(network: Network) -> dict:
    """What a file records of ``network`` to build it again: input shape, layer specs, loss, dtype."""
    return {
        "input_shape": list(network.input_shape),
        "layers": network.specs(),
        "loss": network.loss.name,
        "dtype": network.dtype.name,
    }


def network_from_architecture(architecture: dict) -> Network:
    """The network an architecture describes, with placeholder weights (to be loaded)."""
    return build_network(
        architecture["layers"], tuple(architecture["input_shape"]), architecture["loss"], architecture["dtype"], seed=0
    )


#: the fields of a version-1 architecture (neuralnet 0.1's ``Architecture``) and their defaults
V1_FIELDS: dict[str, Any] = {
    "n_features": None,
    "hidden": None,
    "n_outputs": None,
    "activation": "sigmoid",
    "output_activation": None,
    "loss": "mse",
    "init": "normal",
    "dropout": 0.0,
    "shift": 0,
    "dtype": "float32",
    "extra": {},
}


def upgrade_architecture(old: Any) -> dict:
    """A version-1 architecture (a multilayer perceptron by its sizes) as the stack of layers
    neuralnet 0.1's ``build_mlp`` made from it: [RandomShift], then per hidden layer Dense,
    activation (and Dropout), then Dense and the loss's output activation."""
    if not isinstance(old, dict):
        raise ValueError(f"expected an object with n_features, hidden, n_outputs, ..., got {old!r}")
    unknown = sorted(set(old) - set(V1_FIELDS))
    missing = sorted(key for key, default in V1_FIELDS.items() if default is None and key not in old)
    if unknown or missing:
        raise ValueError(f"unknown fields {unknown}, missing fields {missing}")
    arch = {**V1_FIELDS, **old}
    hidden = arch["hidden"]
    if not isinstance(hidden, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hidden):
        raise ValueError(f"hidden must be a list of layer sizes, got {hidden!r}")
    loss = get_loss(arch["loss"])
    output_activation = arch["output_activation"] or loss.output_activation
    layers: list[dict] = []
    if arch["shift"]:
        layers.append({"type": "RandomShift", "max_shift": arch["shift"]})
    sizes = [arch["n_features"], *hidden]
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [
            {"type": "Dense", "n_in": n_in, "n_out": n_out, "init": arch["init"]},
            {"type": "Activation", "name": arch["activation"]},
        ]
        if arch["dropout"]:
            layers.append({"type": "Dropout", "p": float(arch["dropout"])})
    layers.append({"type": "Dense", "n_in": sizes[-1], "n_out": arch["n_outputs"], "init": arch["init"]})
    if output_activation != "identity":
        layers.append({"type": "Activation", "name": output_activation})
    return {"input_shape": [arch["n_features"]], "layers": layers, "loss": loss.name, "dtype": arch["dtype"]}


def _checked_architecture(path: Path, data: Any, version: int, error: type[ValueError]) -> tuple[dict, Network]:
    """The architecture of a header of ``version`` (upgraded to version 2) and its network."""
    try:
        architecture = upgrade_architecture(data) if version == 1 else data
        if not isinstance(architecture, dict) or set(architecture) != {"input_shape", "layers", "loss", "dtype"}:
            raise ValueError("expected an object with exactly input_shape, layers, loss and dtype")
        if not isinstance(architecture["layers"], list) or not isinstance(architecture["input_shape"], list):
            raise ValueError("input_shape and layers must be lists")
        if np.dtype(architecture["dtype"]) not in FLOAT_DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {architecture['dtype']!r}")
        network = network_from_architecture(architecture)
    except (TypeError, ValueError, KeyError, SpecError) as problem:
        shown = repr(data) if len(repr(data)) < 300 else repr(data)[:300] + "..."
        raise error(f"{path}: invalid architecture {shown} ({problem})") from None
    return architecture, network


def network_from_tensors(
    path: Path,
    architecture_data: Any,
    tensors: dict[str, np.ndarray],
    error: type[ValueError] = ModelFileError,
    prefix: str = "",
    version: int = FORMAT_VERSION,
) -> tuple[dict, Network]:
    """Check ``tensors`` (named ``prefix`` + parameter name) against the architecture and build
    the network holding them; ``error`` names what does not match. Returns the architecture
    (in the current version's form) and the network."""
    if not isinstance(architecture_data, dict):
        raise error(f"{path}: the header has no architecture (an object with input_shape, layers, loss, dtype)")
    architecture, network = _checked_architecture(path, architecture_data, version, error)
    expected = {name: p.value for name, p in network.named_parameters()}
    weights = {name[len(prefix) :]: value for name, value in tensors.items() if name.startswith(prefix)}
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise error(f"{path}: the weights do not match the architecture: missing {missing}, unexpected {unexpected}")
    for name, placeholder in expected.items():
        value = weights[name]
        if value.shape != placeholder.shape:
            raise error(
                f"{path}: {prefix}{name} has shape {value.shape}, but the architecture "
                f"({_describe(architecture)}) needs {placeholder.shape}"
            )
        if value.dtype != network.dtype:
            raise error(f"{path}: {prefix}{name} is {value.dtype}, but the architecture says {network.dtype}")
        if value.size and not (np.isfinite(value.min()) and np.isfinite(value.max())):
            raise error(f"{path}: {prefix}{name} contains NaN or infinite values")
    network.load_state_dict(weights)
    return architecture, network


def _describe(architecture: dict) -> str:
    return " -> ".join(
        spec["type"] + (f"({spec['n_out']})" if "n_out" in spec else "") for spec in architecture["layers"]
    )


# --- the header ------------------------------------------------------------------------------


def _is_label(value) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def check_header(path: Path, header: dict, network: Network) -> dict:
    """The header of a model file checked against the schema (beyond format and architecture,
    which ``load_model`` checks first): preprocessing, classes, training, metrics."""
    try:
        preprocessing = preprocessing_from_dict(header.get("preprocessing"))
    except ValueError as error:
        raise ModelFileError(f"{path}: {error}") from None
    if isinstance(preprocessing, Standardization) and preprocessing.mean.size != network.n_features:
        raise ModelFileError(
            f"{path}: the preprocessing standardizes {preprocessing.mean.size} features, but the "
            f"network takes {network.n_features}"
        )
    targets = header.get("targets")
    if targets is not None:
        try:
            scale = Standardization(targets.get("mean"), targets.get("std")) if isinstance(targets, dict) else None
        except ValueError as error:
            raise ModelFileError(f"{path}: 'targets' {error}") from None
        if scale is None or scale.mean.size != network.n_outputs:
            raise ModelFileError(f"{path}: 'targets' must hold the mean and std of the {network.n_outputs} targets")
    classes = header.get("classes")
    if not isinstance(classes, list) or len(classes) != network.n_outputs or not all(map(_is_label, classes)):
        raise ModelFileError(
            f"{path}: 'classes' must list {network.n_outputs} labels (strings or numbers), got {classes!r}"
        )
    for key in ("training", "metrics"):
        if not isinstance(header.get(key, {}), dict):
            raise ModelFileError(f"{path}: {key!r} must be an object, got {header[key]!r}")
    return header


# --- model files ---------------------------------------------------------------------------


def save_model(
    path: str | Path,
    network: Network,
    *,
    classes: list | None = None,
    preprocessing: dict | None = None,
    training: dict | None = None,
    metrics: dict | None = None,
    targets: dict | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``network``'s parameters and the JSON header to ``path`` (atomically).

    Parameters
    ----------
    path : str or path
        The model file to write.
    network : Network
        The network; its parameters become the file's tensors.
    classes : list, optional
        One label (string or number) per output; by default 0, 1, ...
    preprocessing : dict, optional
        What turns raw inputs into the network's input; by default the chapter's pixel scaling
        (``CHAPTER_PREPROCESSING``).
    training : dict, optional
        How the network was trained (the TrainingConfig).
    metrics : dict, optional
        What was measured of it.
    targets : dict, optional
        A regression's target scaling, {"mean": [...], "std": [...]}: predictions are
        output * std + mean.
    overwrite : bool, default False
        Replace an existing file (refused otherwise).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the number of classes is not the network's number of outputs.
    ModelFileError
        For a header that does not fit the schema (``check_header``).
    FileExistsError
        If the file exists and ``overwrite`` is false.
    """
    preprocessing = preprocessing if preprocessing is not None else CHAPTER_PREPROCESSING
    classes = list(classes) if classes is not None else list(range(network.n_outputs))
    if len(classes) != network.n_outputs:
        raise ValueError(f"{len(classes)} class labels given, but the network has {network.n_outputs} outputs")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture_of(network),
        "preprocessing": preprocessing,
        "classes": classes,
        "training": training or {},
        "metrics": metrics or {},
    }
    if targets is not None:  # a regression's target scaling: predictions are y = output std + mean
        header["targets"] = targets
    check_header(Path(path), header, network)
    data = safetensors_bytes({name: p.value for name, p in network.named_parameters()}, header)
    return atomic_write_bytes(path, data, overwrite=overwrite)


def resolve_model_path(path: str | Path) -> Path:
    """The model file of ``path``: the file itself, or a run folder's model.safetensors."""
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_FILENAME).exists():
            raise FileNotFoundError(
                f"{path} holds no {MODEL_FILENAME} (expected a run folder whose "
                "training finished, or a .safetensors model file)"
            )
        path = path / MODEL_FILENAME
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path} (expected a run folder or a .safetensors file)")
    return path


def load_model(path: str | Path) -> tuple[Network, dict]:
    """Rebuild the network stored in ``path`` and its header.

    Parameters
    ----------
    path : str or path
        A model file, or a run folder holding ``model.safetensors``.

    Returns
    -------
    network : Network
        The network, with the file's weights.
    header : dict
        The file's JSON header, with the architecture in the current version's form.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError
        For a file that is not a valid model file of a version this code reads (see the
        module's docstring).
    """
    path = resolve_model_path(path)
    tensors, header = read_safetensors(path)
    version = check_format(path, header, FORMAT, READABLE_VERSIONS)
    architecture, network = network_from_tensors(path, header.get("architecture"), tensors, version=version)
    header = check_header(path, {**header, "architecture": architecture}, network)
    return network, header
