"""ONNX export: a trained network as a self-contained ONNX graph, preprocessing included.

The graph has one input and one output::

    pixels         float32 [N, 784]      raw pixels, values 0 to 255 (a table's model: features,
                                         the raw values of its feature columns)
    probabilities  float32 [N, classes]  what Network.predict_proba gives (a regression's model:
                                         predictions, the targets in their own units)

and computes, node by node, what ``Predictor.predict_proba`` (``predict`` for a regression)
computes:

1. the preprocessing stored with the model (the chapter's ``((X / 255.) - .5) * 2``;
   for float32 networks as ``(2 X - 255) / 255``, which for integer pixels is exactly the
   float32 that training used, see ``neuralnet.preprocessing``; a table's standardization
   ``(x - mean) / std`` in float64, then the network's dtype);
2. for a network of images, a ``Reshape`` of the rows to [N, channels, height, width];
3. each layer in order: ``Dense`` as ``Gemm`` (x W^T + b), ``Conv2D`` as ``Conv``, the poolings as
   ``MaxPool`` / ``AveragePool``, ``Flatten`` as ``Flatten``, ``BatchNorm`` as
   ``BatchNormalization`` (with the running statistics), each activation as its ONNX operator
   (Sigmoid, Tanh, Relu, LeakyRelu, Softmax; identity adds nothing), ``Dropout`` and the shift
   augmentation as nothing (they are the identity at inference);
4. the loss's probabilities: Softmax of the logits for the cross-entropy loss, the output
   layer's activations as they are for mse; for a regression the targets' scaling undone,
   ``output * std + mean`` in float64.

float64 networks compute in float64 inside the graph (a Cast after the input and before
the output). The model's JSON header (architecture, classes, preprocessing, metrics) is
kept in the ONNX file's metadata under the key ``neuralnet``. The graph is built with
``onnx.helper`` and checked with ``onnx.checker`` before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.preprocessing import CHAPTER_PREPROCESSING
from ..engine.activations import LEAKY_SLOPE
from ..engine.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D
from ..engine.layers import Activation, Dense, Dropout, Layer, RandomShift
from ..engine.network import Network
from ..engine.normalization import BatchNorm
from .files import atomic_write_bytes
from .modelfile import load_model

__all__ = ["to_onnx", "export_onnx", "onnx_names", "OPSET", "INPUT_NAME", "OUTPUT_NAME"]

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17: readable by ONNX Runtime 1.13 and newer
INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
#: preprocessing name -> the graph input's name
INPUT_NAMES = {"chapter": INPUT_NAME, "standardize": "features"}
REGRESSION_OUTPUT_NAME = "predictions"

#: activation name -> (ONNX operator, attributes); None: nothing to compute
ACTIVATION_OPERATORS: dict[str, tuple[str, dict] | None] = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": LEAKY_SLOPE}),
    "softmax": ("Softmax", {"axis": 1}),
    "identity": None,
}

#: loss name -> what turns the network's output into probabilities (Loss.probabilities)
PROBABILITY_OPERATORS: dict[str, tuple[str, dict] | None] = {
    "mse": None,  # the sigmoid (or other) outputs themselves
    "cross-entropy": ("Softmax", {"axis": 1}),  # softmax of the logits
}


class _GraphBuilder:
    """Collects nodes and initializers; every value gets a fresh, readable name."""

    def __init__(self, dtype: np.dtype):
        from onnx import helper

        self.helper, self.dtype = helper, np.dtype(dtype)
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, value, dtype=None) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def cast(self, x: str, dtype, stem: str) -> str:
        from onnx import TensorProto

        to = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[np.dtype(dtype)]
        return self.node("Cast", [x], stem, to=to)

    def node(self, operator: str, inputs: list[str], stem: str, **attributes) -> str:
        output = self.name(stem)
        self.nodes.append(self.helper.make_node(operator, inputs, [output], name=output, **attributes))
        return output


# --- the preprocessing, the layers and the probabilities as nodes ---------------------------


def _chapter_preprocessing(graph: _GraphBuilder, x: str, preprocessing: dict) -> str:
    if graph.dtype != np.float32:
        x = graph.cast(x, graph.dtype, "pixels_float64")
    if graph.dtype == np.float32:
        # (2 x - 255) / 255: exact for integer pixels up to the one rounding of the division,
        # as scale_pixels computes it
        doubled = graph.node("Mul", [x, graph.constant("two", 2.0)], "pixels_times_2")
        centred = graph.node("Sub", [doubled, graph.constant("max_pixel", 255.0)], "pixels_centred")
        return graph.node("Div", [centred, graph.constant("max_pixel", 255.0)], "scaled")
    # float64: the chapter's formula, operation by operation, as CHAPTER_TABLE evaluates it
    divided = graph.node("Div", [x, graph.constant("max_pixel", 255.0)], "pixels_over_255")
    shifted = graph.node("Sub", [divided, graph.constant("half", 0.5)], "pixels_minus_half")
    return graph.node("Mul", [shifted, graph.constant("two", 2.0)], "scaled")


def _standardization(graph: _GraphBuilder, x: str, preprocessing: dict) -> str:
    # (x - mean) / std per feature, in float64 as Standardization.apply, then the network's dtype
    x = graph.cast(x, np.float64, "features_float64")
    centred = graph.node("Sub", [x, graph.constant("mean", preprocessing["mean"], np.float64)], "features_centred")
    scaled = graph.node("Div", [centred, graph.constant("std", preprocessing["std"], np.float64)], "standardized")
    return graph.cast(scaled, graph.dtype, "standardized_as_network")


PREPROCESSING_GRAPHS: dict[str, Callable[[_GraphBuilder, str, dict], str]] = {
    "chapter": _chapter_preprocessing,
    "standardize": _standardization,
}


def onnx_names(header: dict | None) -> tuple[str, str]:
    """The input and output names of the ONNX graph of a model with this header."""
    header = header or {}
    regression = (header.get("training") or {}).get("task") == "regression"
    name = (header.get("preprocessing") or CHAPTER_PREPROCESSING).get("name")
    input_name = INPUT_NAME if name is None else INPUT_NAMES.get(name, INPUT_NAME)
    return input_name, REGRESSION_OUTPUT_NAME if regression else OUTPUT_NAME


def _dense(graph: _GraphBuilder, layer: Dense, x: str, index: int) -> str:
    # z = x W^T + b: [N, n_in] @ [n_in, n_out] + [n_out] (W^T is how Dense stores W)
    weight_t = graph.constant(f"layers.{index}.weight_T", np.ascontiguousarray(layer.weight.T))
    bias = graph.constant(f"layers.{index}.bias", layer.bias)
    return graph.node("Gemm", [x, weight_t, bias], f"layers.{index}.z")


def _activation(graph: _GraphBuilder, layer: Activation, x: str, index: int) -> str:
    if layer.name not in ACTIVATION_OPERATORS:
        raise ValueError(
            f"activation {layer.name!r} has no ONNX operator here; expected one of {sorted(ACTIVATION_OPERATORS)}"
        )
    operator = ACTIVATION_OPERATORS[layer.name]
    if operator is None:
        return x
    name, attributes = operator
    return graph.node(name, [x], f"layers.{index}.{layer.name}", **attributes)


def _identity_at_inference(graph: _GraphBuilder, layer: Layer, x: str, index: int) -> str:
    return x  # inverted dropout and the shift augmentation act only in training


def _conv(graph: _GraphBuilder, layer: Conv2D, x: str, index: int) -> str:
    # z = conv(x, W) + b, W [out, in, kh, kw] as ONNX's Conv takes it (also cross-correlation)
    weight = graph.constant(f"layers.{index}.weight", layer.weight)
    bias = graph.constant(f"layers.{index}.bias", layer.bias)
    ph, pw = layer.padding
    return graph.node(
        "Conv",
        [x, weight, bias],
        f"layers.{index}.z",
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.stride),
        pads=[ph, pw, ph, pw],
    )


def _pool(operator: str):
    def build(graph: _GraphBuilder, layer: MaxPool2D | AvgPool2D, x: str, index: int) -> str:
        ph, pw = layer.padding
        extra = {"count_include_pad": 1} if operator == "AveragePool" else {}
        return graph.node(
            operator,
            [x],
            f"layers.{index}.{operator.lower()}",
            kernel_shape=list(layer.kernel_size),
            strides=list(layer.stride),
            pads=[ph, pw, ph, pw],
            **extra,
        )

    return build


def _flatten(graph: _GraphBuilder, layer: Layer, x: str, index: int) -> str:
    return graph.node("Flatten", [x], f"layers.{index}.flat", axis=1)


def _batch_norm(graph: _GraphBuilder, layer: BatchNorm, x: str, index: int) -> str:
    # y = gamma (x - running_mean) / sqrt(running_var + eps) + beta, per feature or channel
    names = [
        graph.constant(f"layers.{index}.{name}", getattr(layer, name))
        for name in ("weight", "bias", "running_mean", "running_var")
    ]
    return graph.node("BatchNormalization", [x, *names], f"layers.{index}.normalized", epsilon=layer.eps)


#: layer type -> the function that adds its nodes (each takes a layer of its own type)
LAYER_GRAPHS: dict[type[Layer], Callable[[_GraphBuilder, Any, str, int], str]] = {
    Dense: _dense,
    Activation: _activation,
    Dropout: _identity_at_inference,
    RandomShift: _identity_at_inference,
    Conv2D: _conv,
    MaxPool2D: _pool("MaxPool"),
    AvgPool2D: _pool("AveragePool"),
    Flatten: _flatten,
    BatchNorm: _batch_norm,
}


def to_onnx(network: Network, *, preprocessing: dict | None = None, header: dict | None = None):
    """Build the ONNX model (an ``onnx.ModelProto``) of ``network`` with its preprocessing.

    Parameters
    ----------
    network : Network
        The network.
    preprocessing : dict, optional
        The model's preprocessing; by default the chapter's pixel scaling.
    header : dict, optional
        The model file's JSON header, kept in the ONNX metadata.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker``: input float32 [N, n_features], output float32
        [N, n_outputs] (see the module).

    Raises
    ------
    ValueError
        For a layer, activation, loss or preprocessing that has no ONNX form here.
    """
    import onnx
    from onnx import TensorProto, helper

    preprocessing = preprocessing or CHAPTER_PREPROCESSING
    name = preprocessing.get("name")
    if name not in PREPROCESSING_GRAPHS:
        raise ValueError(f"preprocessing {name!r} cannot be exported; expected one of {sorted(PREPROCESSING_GRAPHS)}")
    if network.loss.name not in PROBABILITY_OPERATORS:
        raise ValueError(
            f"loss {network.loss.name!r} cannot be exported; expected one of {sorted(PROBABILITY_OPERATORS)}"
        )
    input_name, output_name = onnx_names({**(header or {}), "preprocessing": preprocessing})
    graph = _GraphBuilder(network.dtype)
    x = PREPROCESSING_GRAPHS[name](graph, input_name, preprocessing)
    if len(network.input_shape) > 1:  # rows of pixels -> images [N, channels, height, width]
        shape = graph.helper.make_tensor(
            graph.name("image_shape"), TensorProto.INT64, [len(network.input_shape) + 1], [-1, *network.input_shape]
        )
        graph.initializers.append(shape)
        x = graph.node("Reshape", [x, shape.name], "images")
    for index, layer in enumerate(network.layers):
        build = LAYER_GRAPHS.get(type(layer))
        if build is None:
            raise ValueError(
                f"layer {index} ({type(layer).__name__}) cannot be exported to ONNX; expected "
                f"one of {[kind.__name__ for kind in LAYER_GRAPHS]}"
            )
        x = build(graph, layer, x, index)
    targets = (header or {}).get("targets")
    if output_name == REGRESSION_OUTPUT_NAME:
        if targets:  # output * std + mean, in float64 as Predictor.predict
            x = graph.cast(x, np.float64, "output_float64")
            x = graph.node("Mul", [x, graph.constant("target_std", targets["std"], np.float64)], "output_times_std")
            x = graph.node("Add", [x, graph.constant("target_mean", targets["mean"], np.float64)], "predictions_64")
            x = graph.cast(x, np.float32, "predictions_float32")
        elif graph.dtype != np.float32:
            x = graph.cast(x, np.float32, "predictions_float32")
    else:
        operator = PROBABILITY_OPERATORS[network.loss.name]
        if operator is not None:
            x = graph.node(operator[0], [x], "softmax_probabilities", **operator[1])
        if graph.dtype != np.float32:
            x = graph.cast(x, np.float32, "probabilities_float32")
    # the graph's output gets its public name through a final Identity
    graph.nodes.append(helper.make_node("Identity", [x], [output_name], name=output_name))

    inputs = "raw pixels in 0..255" if input_name == INPUT_NAME else "the raw values of the feature columns"
    outputs = "the predicted targets" if output_name == REGRESSION_OUTPUT_NAME else "class probabilities"
    onnx_graph = helper.make_graph(
        graph.nodes,
        "neuralnet_network",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", network.n_features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", network.n_outputs])],
        initializer=graph.initializers,
        doc_string=f"{inputs} (N, {network.n_features}) -> {outputs} (N, {network.n_outputs})",
    )
    model = helper.make_model(onnx_graph, producer_name="neuralnet", opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = (
        f"A neuralnet network ({network.loss.name} loss) with the {name!r} preprocessing: input "
        f"'{input_name}' float32 (N, {network.n_features}), {inputs}; output '{output_name}' "
        f"float32 (N, {network.n_outputs}), {outputs}."
    )
    if header is not None:
        helper.set_model_props(model, {"neuralnet": json.dumps(header)})
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(source: str | Path, path: str | Path, *, overwrite: bool = False) -> Path:
    """Export the model of ``source`` to the ONNX file ``path``, atomically.

    Parameters
    ----------
    source : str or path
        A run folder or a model file.
    path : str or path
        The ONNX file to write.
    overwrite : bool, default False
        Replace an existing file (refused otherwise).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    FileNotFoundError, ModelFileError
        For a source that is not a readable model (see ``load_model``).
    ValueError
        For a model that has no ONNX form here (see ``to_onnx``).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; refusing to overwrite it (add --overwrite, or overwrite=True, to replace it)"
        )
    network, header = load_model(source)
    model = to_onnx(network, preprocessing=header.get("preprocessing"), header=header)
    return atomic_write_bytes(path, model.SerializeToString(), overwrite=overwrite)
