"""A bridge to PyTorch (the book's next chapter): a trained network as a ``torch.nn.Sequential``.

``to_torch(source)`` gives the network of a run folder, a model file or a ``Network`` as
PyTorch modules with the same weights, in PyTorch's own layouts (neuralnet's ``Dense`` and
``Conv2D`` already store ``[out, in]`` and ``[out, in, kh, kw]``), ready to be trained on with
``torch.optim``::

    Dense -> nn.Linear            Conv2D -> nn.Conv2d          MaxPool2D/AvgPool2D -> nn.MaxPool2d/AvgPool2d
    Flatten -> nn.Flatten         BatchNorm -> nn.BatchNorm1d/2d (running statistics, eps, momentum)
    Dropout -> nn.Dropout         activations -> nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.Softmax
    RandomShift -> nn.Identity (an augmentation of the training images; nothing at inference)

The module takes what the network takes, preprocessed inputs of the network's input shape
([n, 784] for the chapter's network, [n, 1, 28, 28] for a convolutional one), and gives what
``Network.predict_output`` gives: the sigmoid outputs of the chapter's network, the logits of a
cross-entropy one. ``export_torch(source, path)`` writes it with ``torch.export`` (a ``.pt2``
file, no pickle, any batch size): ``torch.export.load(path).module()`` runs it without neuralnet.
torch is an optional extra: ``pip install 'neuralnet-from-scratch[torch]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..engine.activations import LEAKY_SLOPE
from ..engine.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D
from ..engine.layers import Activation, Dense, Dropout, Layer, RandomShift
from ..engine.network import Network
from ..engine.normalization import BatchNorm
from .files import atomic_write_bytes
from .modelfile import load_model

__all__ = ["to_torch", "export_torch", "LAYER_MODULES"]


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("the PyTorch bridge needs torch: pip install 'neuralnet-from-scratch[torch]'") from None
    return torch


def _copy(parameter, value: np.ndarray) -> None:
    torch = _torch()
    with torch.no_grad():
        parameter.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _linear(layer: Dense, shape):
    module = _torch().nn.Linear(layer.n_in, layer.n_out)
    _copy(module.weight, layer.weight)  # [n_out, n_in], PyTorch's layout
    _copy(module.bias, layer.bias)
    return module


def _conv(layer: Conv2D, shape):
    module = _torch().nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        tuple(layer.kernel_size),
        stride=tuple(layer.stride),
        padding=tuple(layer.padding),
    )
    _copy(module.weight, layer.weight)  # [out, in, kh, kw]
    _copy(module.bias, layer.bias)
    return module


def _pool(kind: str):
    def build(layer, shape):
        return getattr(_torch().nn, kind)(
            tuple(layer.kernel_size), stride=tuple(layer.stride), padding=tuple(layer.padding)
        )

    return build


def _batch_norm(layer: BatchNorm, shape):
    nn = _torch().nn
    module = (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(
        layer.num_features, eps=layer.eps, momentum=layer.momentum
    )
    for name in ("weight", "bias", "running_mean", "running_var"):
        _copy(getattr(module, name), getattr(layer, name))
    return module


_ACTIVATIONS: dict[str, Callable] = {
    "sigmoid": lambda nn: nn.Sigmoid(),
    "tanh": lambda nn: nn.Tanh(),
    "relu": lambda nn: nn.ReLU(),
    "leaky_relu": lambda nn: nn.LeakyReLU(LEAKY_SLOPE),
    "softmax": lambda nn: nn.Softmax(dim=1),
    "identity": lambda nn: nn.Identity(),
}


def _activation(layer: Activation, shape):
    if layer.name not in _ACTIVATIONS:
        raise ValueError(
            f"activation {layer.name!r} has no PyTorch module here; expected one of {sorted(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[layer.name](_torch().nn)


#: layer type -> what makes its PyTorch module (from the layer and its input's shape)
LAYER_MODULES: dict[type[Layer], Callable] = {
    Dense: _linear,
    Conv2D: _conv,
    MaxPool2D: _pool("MaxPool2d"),
    AvgPool2D: _pool("AvgPool2d"),
    Flatten: lambda layer, shape: _torch().nn.Flatten(),
    BatchNorm: _batch_norm,
    Dropout: lambda layer, shape: _torch().nn.Dropout(layer.p),
    RandomShift: lambda layer, shape: _torch().nn.Identity(),
    Activation: _activation,
}


def to_torch(source: Network | str | Path):
    """The network of ``source`` (a ``Network``, a run folder or a model file) as a
    ``torch.nn.Sequential`` in eval mode, with its weights in the network's dtype (see the module)."""
    network = source if isinstance(source, Network) else load_model(source)[0]
    torch = _torch()
    modules, shape = [], network.input_shape
    for index, layer in enumerate(network.layers):
        build = LAYER_MODULES.get(type(layer))
        if build is None:
            raise ValueError(
                f"layer {index} ({type(layer).__name__}) has no PyTorch module here; expected one of "
                f"{[kind.__name__ for kind in LAYER_MODULES]}"
            )
        modules.append(build(layer, shape))
        shape = network.layer_shapes[index]
    model = torch.nn.Sequential(*modules)
    return model.to(torch.float64 if network.dtype == np.float64 else torch.float32).eval()


def export_torch(source: Network | str | Path, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the network of ``source`` with ``torch.export`` to ``path`` (a ``.pt2`` file whose
    batch size is free), atomically; an existing file is replaced only with ``overwrite``."""
    import io

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; refusing to overwrite it (add --overwrite, or overwrite=True, to replace it)"
        )
    torch = _torch()
    network = source if isinstance(source, Network) else load_model(source)[0]
    model = to_torch(network)
    example = torch.zeros((2, *network.input_shape), dtype=next(model.parameters()).dtype)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return atomic_write_bytes(path, buffer.getvalue(), overwrite=overwrite)
