"""Layer specs: the table of layer types, the spellings a person may use, and the short syntax.

A layer spec is JSON-ready data: ``{"type": "Conv2D", "out_channels": 32, "kernel_size": 5}``.
``Layer.config()`` gives the canonical spec of a built layer (every setting, PyTorch's names);
``normalize_spec`` accepts what people write as well (``{"type": "conv2d", "filters": 32}``,
``{"type": "relu"}``, ``{"type": "dense", "units": 128}``), and ``parse_layers`` the short
syntax of the command line::

    conv2d(32, 5, padding=2), relu, maxpool2d(2), flatten, dense(128), relu, dropout(0.3)

``build_layer`` makes the layer a spec describes for a given input shape.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from .activations import ACTIVATIONS
from .conv import AvgPool2D, Conv2D, Flatten, MaxPool2D
from .layers import Activation, Dense, Dropout, Layer, RandomShift, RandomStreams, SpecError, _shape
from .normalization import BatchNorm

__all__ = ["LAYER_TYPES", "NAMED_STACKS", "normalize_spec", "parse_layers", "build_layer", "describe_spec"]

#: a spec's "type" -> the layer class that builds it
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (Dense, Activation, Dropout, RandomShift, Conv2D, MaxPool2D, AvgPool2D, Flatten, BatchNorm)
}

#: stacks known by name (the hidden layers; the output layer is the builder's), in the short syntax
NAMED_STACKS = {
    # LeCun et al. (1998)'s LeNet-5 on 28 x 28 inputs (padded to the paper's 32 x 32 by the first layer)
    "lenet5": "conv2d(6, 5, padding=2), tanh, avgpool2d(2), conv2d(16, 5), tanh, avgpool2d(2), flatten, "
    "dense(120), tanh, dense(84), tanh",
    # recipes/mnist-cnn.toml's network: two 5 x 5 convolutions (32, 64 filters) with max-pooling, dense 512
    "cnn": "conv2d(32, 5, padding=2), relu, maxpool2d(2), conv2d(64, 5, padding=2), relu, maxpool2d(2), flatten, "
    "dense(512), relu, dropout(0.5)",
}

#: other spellings of the types (lower case, no "-" or "_"); an activation's name stands for itself
TYPE_ALIASES = {
    "dense": "Dense",
    "linear": "Dense",
    "fullyconnected": "Dense",
    "conv2d": "Conv2D",
    "conv": "Conv2D",
    "convolution": "Conv2D",
    "maxpool2d": "MaxPool2D",
    "maxpool": "MaxPool2D",
    "avgpool2d": "AvgPool2D",
    "avgpool": "AvgPool2D",
    "flatten": "Flatten",
    "batchnorm": "BatchNorm",
    "batchnorm1d": "BatchNorm",
    "batchnorm2d": "BatchNorm",
    "bn": "BatchNorm",
    "dropout": "Dropout",
    "randomshift": "RandomShift",
    "shift": "RandomShift",
    "activation": "Activation",
}

#: per type, other names of its settings -> the canonical one
KEY_ALIASES = {
    "Dense": {"units": "n_out", "out_features": "n_out", "in_features": "n_in"},
    "Conv2D": {"filters": "out_channels", "channels": "out_channels", "kernel": "kernel_size"},
    "MaxPool2D": {"kernel": "kernel_size", "size": "kernel_size"},
    "AvgPool2D": {"kernel": "kernel_size", "size": "kernel_size"},
    "Dropout": {"rate": "p"},
    "RandomShift": {"pixels": "max_shift", "shift": "max_shift"},
    "BatchNorm": {"features": "num_features"},
    "Activation": {"function": "name"},
}

#: per type, the settings the short syntax takes by position
POSITIONAL = {
    "Dense": ("n_out",),
    "Conv2D": ("out_channels", "kernel_size", "stride", "padding"),
    "MaxPool2D": ("kernel_size", "stride", "padding"),
    "AvgPool2D": ("kernel_size", "stride", "padding"),
    "Dropout": ("p",),
    "RandomShift": ("max_shift",),
    "BatchNorm": (),
    "Flatten": (),
    "Activation": ("name",),
}


def _type_of(name: str) -> tuple[str, dict]:
    """The canonical type of a type's spelling, and the settings the spelling itself gives."""
    if name in LAYER_TYPES:
        return name, {}
    key = re.sub(r"[-_ ]", "", str(name).lower())
    if key in TYPE_ALIASES:
        return TYPE_ALIASES[key], {}
    activation = str(name).lower().replace("-", "_")
    if activation in ACTIVATIONS or activation == "logistic":
        return "Activation", {"name": "sigmoid" if activation == "logistic" else activation}
    raise SpecError(
        f"unknown layer type {name!r}; expected one of {sorted(LAYER_TYPES)} (or conv2d, maxpool2d, "
        f"dense, dropout, flatten, batchnorm, shift, or an activation: {sorted(ACTIVATIONS)})"
    )


def normalize_spec(spec) -> dict:
    """A spec as people write it -> the canonical spec (canonical type and setting names)."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise SpecError(f'a layer spec is an object with a "type", e.g. {{"type": "Dense", "n_out": 50}}; got {spec!r}')
    kind, given = _type_of(spec["type"])
    aliases = KEY_ALIASES.get(kind, {})
    settings = dict(given)
    for key, value in spec.items():
        if key == "type":
            continue
        name = aliases.get(key, key)
        if name in settings and key != name:
            raise SpecError(f"{kind} layer {spec}: {key!r} and {name!r} are the same setting; give it once")
        settings[name] = value
    return {"type": kind, **settings}


def parse_layers(text: str) -> list[dict]:
    """The short syntax -> specs: comma-separated layers, each a type with optional arguments,
    positional ones first: ``conv2d(32, 5, padding=2), relu, maxpool2d(2), flatten, dense(128)``."""
    specs = []
    for item in _split_top_level(text):
        match = re.fullmatch(r"\s*([A-Za-z_][\w-]*)\s*(?:\((.*)\))?\s*", item, re.S)
        if not match:
            raise SpecError(
                f"cannot read the layer {item.strip()!r}; expected a name with optional arguments, "
                "e.g. conv2d(32, 5, padding=2) or relu"
            )
        kind, given = _type_of(match.group(1))
        settings = dict(given)
        if match.group(2) and match.group(2).strip():
            try:
                call = ast.parse(f"f({match.group(2)})", mode="eval").body
                if not isinstance(call, ast.Call):  # e.g. "dense(1) + (2)": not one call
                    raise ValueError("expected one list of arguments in parentheses")
                positional = [ast.literal_eval(argument) for argument in call.args]
                named = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
            except (SyntaxError, ValueError) as error:
                raise SpecError(f"cannot read the arguments of {item.strip()!r}: {error}") from None
            names = POSITIONAL[kind][len(given) :]
            if len(positional) > len(names):
                raise SpecError(
                    f"{item.strip()!r} gives {len(positional)} arguments by position, but {kind} takes "
                    f"{len(names)} ({', '.join(names) or 'none'}); name the others"
                )
            settings.update(zip(names, positional))
            settings.update(named)
        specs.append(normalize_spec({"type": kind, **settings}))
    if not specs:
        raise SpecError("no layers given; expected e.g. conv2d(32, 5, padding=2), relu, maxpool2d(2), flatten")
    return specs


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses and brackets."""
    parts, depth, current = [], 0, ""
    for character in str(text):
        if character in "([":
            depth += 1
        elif character in ")]":
            depth -= 1
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    if current.strip():
        parts.append(current)
    return [part for part in parts if part.strip()]


def describe_spec(spec: dict) -> str:
    """A spec in the short syntax: ``Conv2D(1 -> 32, 5x5, padding 2)``, ``Dense(784 -> 50)``, ``relu``."""
    kind = spec["type"]
    if kind == "Activation":
        return spec["name"]
    if kind == "Dense":
        return f"Dense({spec.get('n_in', '?')} -> {spec['n_out']})"
    if kind == "Conv2D":
        kh, kw = _two(spec["kernel_size"])
        stride, padding = _two(spec.get("stride", 1))[0], _two(spec.get("padding", 0))[0]
        extra = (f", stride {stride}" if stride != 1 else "") + (f", padding {padding}" if padding else "")
        return f"Conv2D({spec.get('in_channels', '?')} -> {spec['out_channels']}, {kh}x{kw}{extra})"
    if kind in ("MaxPool2D", "AvgPool2D"):
        return f"{kind}({_two(spec['kernel_size'])[0]})"
    if kind == "Dropout":
        return f"Dropout({spec['p']:g})"
    if kind == "RandomShift":
        return f"RandomShift({spec['max_shift']})"
    if kind == "BatchNorm":
        return f"BatchNorm({spec.get('num_features', '?')})"
    return kind


def _two(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def build_layer(spec: dict, input_shape: tuple[int, ...] | None, streams: RandomStreams, dtype=np.float32) -> Layer:
    """The layer of ``spec`` (``{"type": "Dense", "n_out": 50, ...}``) for examples of
    ``input_shape`` (None: the spec is complete, as ``Layer.config`` gives it); a ``SpecError``
    names the type or setting that does not fit."""
    spec = normalize_spec(spec)
    settings = {key: value for key, value in spec.items() if key != "type"}
    cls = LAYER_TYPES[spec["type"]]
    try:
        shape = None if input_shape is None else _shape(input_shape)
        return cls.from_config(settings, shape, streams, np.dtype(dtype))
    except SpecError:
        raise
    except TypeError as error:  # an unknown or missing setting
        raise SpecError(f"{spec['type']} layer {settings}: {error}") from None
    except (ValueError, KeyError) as error:
        raise SpecError(f"{spec['type']} layer {settings}: {error}") from None
