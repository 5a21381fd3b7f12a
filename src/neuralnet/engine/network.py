"""A network: a stack of layers and the loss at its end.

``forward`` runs the layers in order (``execution_order``: the stack's, but a ReLU just before
a max-pool runs after it, the same numbers on a quarter of the values), ``backward`` runs them in
reverse from the loss's gradient (skipping dL/dx for the input, which nothing uses), and
``parameters`` lists
what the optimizer updates. ``build_network`` makes a network from a stack of layer specs
(``[{"type": "Dense", "n_out": 50}, {"type": "Activation", "name": "sigmoid"}, ...]``),
checking that each layer fits the shape the one before it gives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from . import kernels
from .conv import MaxPool2D
from .layers import Activation, Layer, Parameter, RandomStreams, SpecError
from .losses import Loss, get_loss
from .specs import build_layer, describe_spec

__all__ = ["Network", "build_network", "check_float_dtype", "execution_order", "FLOAT_DTYPES"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy dtype, or a ValueError unless it is float32 or float64."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise ValueError(f"an input shape is a tuple of positive sizes, e.g. (784,) or (1, 28, 28); got {shape!r}")
    return tuple(int(s) for s in shape)


class Network:
    """Layers applied in order, trained against a loss.

    All parameters live in one flat array, and all gradients in another; each layer's
    ``weight``, ``bias``, ``grad_weight``, ... are views into them. An optimizer can then
    update every parameter with a few whole-array operations (``flat_parameters()``),
    and a snapshot of the network is one copy (``flat_values``).

    The layers are checked against the input shape in order: a stack whose shapes do not fit
    is refused here, naming the layer.

    Parameters
    ----------
    layers : sequence of Layer
        The layers, applied in order.
    loss : Loss or str
        The loss at the end, or its name ("mse" or "cross-entropy"). A loss that applies softmax
        itself (cross-entropy) takes logits: the last layer must not be an activation other than
        identity.
    dtype : numpy dtype, default float32
        float32 or float64: the dtype of every parameter.
    input_shape : sequence of int or int, optional
        The shape of one example (``(784,)`` for flat MNIST images); by default the first dense
        layer's number of inputs.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        loss: Loss | str,
        dtype=np.float32,
        input_shape: Sequence[int] | int | None = None,
    ):
        self.layers = list(layers)
        self.loss = get_loss(loss)
        self.dtype = check_float_dtype(dtype)
        if input_shape is None:
            first = next((layer for layer in self.layers if hasattr(layer, "n_in")), None)
            if first is None:
                raise ValueError("give the input_shape of a network without a dense layer")
            input_shape = (first.n_in,)
        self.input_shape = _shape(input_shape)
        self.layer_shapes = self._check_shapes()  # the output shape of each layer
        # what one example's pass makes: its input and every layer's output (sizes inference batches)
        self._values_per_example = math.prod(self.input_shape) + sum(math.prod(s) for s in self.layer_shapes)
        self._check_output()
        self._flatten_parameters()
        # backward stops at the first layer with parameters: nothing needs dL/d(input)
        self._first_trainable = next((i for i, layer in enumerate(self.layers) if layer.parameters()), 0)
        self.execution_order = execution_order(self.layers)

    def _check_shapes(self) -> list[tuple[int, ...]]:
        shapes, shape = [], self.input_shape
        for index, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except SpecError as error:
                raise SpecError(
                    f"layer {index} ({type(layer).__name__}) does not fit the shape {shape} that "
                    f"{'the input' if index == 0 else f'layer {index - 1}'} gives: {error}"
                ) from None
            shapes.append(shape)
        return shapes

    def _check_output(self) -> None:
        """A loss that applies softmax itself (cross-entropy) takes logits: no activation after them."""
        last = self.layers[-1] if self.layers else None
        if self.loss.output_activation == "identity" and isinstance(last, Activation) and last.name != "identity":
            raise ValueError(
                f"the {self.loss.name} loss applies softmax itself and takes the logits; the last "
                f"layer's output_activation must be 'identity', got {last.name!r} (drop that layer)"
            )

    def _flatten_parameters(self) -> None:
        records = [(layer, p) for layer in self.layers for p in layer.parameters()]
        for _, p in records:
            if p.value.dtype != self.dtype:
                raise ValueError(f"parameter {p.name} is {p.value.dtype}, but the network is {self.dtype}")
        total = sum(p.value.size for _, p in records)
        self.flat_values = np.empty(total, dtype=self.dtype)
        self.flat_grads = np.zeros(total, dtype=self.dtype)
        self.flat_decay = np.zeros(total, dtype=bool)
        offset = 0
        for layer, p in records:
            stop = offset + p.value.size
            layer.bind_parameter(p.name, self.flat_values[offset:stop], self.flat_grads[offset:stop])
            self.flat_decay[offset:stop] = p.decay
            offset = stop

    def flat_parameters(self) -> list[Parameter]:
        """Every parameter as one ``Parameter`` (for optimizers: fewer, larger operations)."""
        return [Parameter("all", self.flat_values, self.flat_grads, decay=self.flat_decay)]

    # -- a summary, like Keras's model.summary() -----------------------------------------------
    def summary_rows(self) -> list[dict]:
        """One row per layer: its index, what it is, its output shape (one example's) and its
        numbers of trained and other (running statistics) parameters."""
        rows = []
        for index, (layer, shape) in enumerate(zip(self.layers, self.layer_shapes)):
            trained = sum(p.value.size for p in layer.parameters() if p.trainable)
            other = sum(p.value.size for p in layer.parameters() if not p.trainable)
            rows.append(
                {
                    "index": index,
                    "layer": describe_spec(layer.config()),
                    "output_shape": list(shape),
                    "parameters": trained,
                    "non_trainable": other,
                }
            )
        return rows

    def summary(self) -> str:
        """The layers as a table (index, layer, output shape, parameters) and the totals, with the
        input shape and the loss: what ``neuralnet summary RUN`` and ``neuralnet train`` print."""
        rows = self.summary_rows()
        table = [("#", "layer", "output shape", "parameters")]
        table += [
            (
                str(r["index"]),
                r["layer"],
                "x".join(map(str, r["output_shape"])),
                f"{r['parameters']:,}" + (f" (+{r['non_trainable']:,} running)" if r["non_trainable"] else ""),
            )
            for r in rows
        ]
        widths = [max(len(row[k]) for row in table) for k in range(4)]
        line = lambda row: "  ".join(  # noqa: E731
            cell.rjust(width) if k in (0, 3) else cell.ljust(width) for k, (cell, width) in enumerate(zip(row, widths))
        )
        rule = "-" * len(line(table[0]))
        trained = sum(r["parameters"] for r in rows)
        other = sum(r["non_trainable"] for r in rows)
        lines = [
            f"Input: {'x'.join(map(str, self.input_shape))} ({self.dtype.name}), loss: {self.loss.name}",
            rule,
            line(table[0]),
            rule,
            *map(line, table[1:]),
            rule,
            f"Trainable parameters: {trained:,} ({trained * self.dtype.itemsize / 1024**2:.2f} MiB)",
        ]
        if other:
            lines.append(f"Non-trainable parameters: {other:,} (batch normalisation's running statistics)")
        return "\n".join(lines)

    # -- specs, copies and pickles -------------------------------------------------------------
    def specs(self) -> list[dict]:
        """The stack of layer specs this network is (``build_network`` makes it again)."""
        return [layer.config() for layer in self.layers]

    def random_layers(self) -> list[Layer]:
        """The layers that draw random numbers in training (dropout masks, shifts), in order."""
        return [layer for layer in self.layers if layer.random_generator is not None]

    def generator_states(self) -> list[Mapping[str, Any]]:
        """The state of each random layer's generator, in layer order."""
        states = []
        for layer in self.random_layers():
            generator = layer.random_generator
            assert generator is not None  # random_layers keeps the layers that have one
            states.append(generator.bit_generator.state)
        return states

    def set_generator_states(self, states: Sequence[Mapping[str, Any]]) -> None:
        """Set each random layer's generator to a state of ``generator_states``.

        Layers that share one generator here, but had generators of their own where the states
        come from, get their own again.

        Parameters
        ----------
        states : sequence of dict
            One bit-generator state per random layer (Dropout and RandomShift), in layer order.

        Raises
        ------
        ValueError
            If the number of states is not the number of random layers.
        """
        layers = self.random_layers()
        if len(states) != len(layers):
            raise ValueError(
                f"{len(states)} generator states given, but the network has {len(layers)} "
                "random layers (Dropout and RandomShift)"
            )
        given: dict[int, Mapping[str, Any]] = {}
        for layer, state in zip(layers, states):
            generator = layer.random_generator
            assert generator is not None  # random_layers keeps the layers that have one
            if id(generator) in given and given[id(generator)] != state:
                # layers that shared one generator here, but had generators of their own where
                # the states come from: this one gets its own again. A random layer (Dropout,
                # RandomShift) keeps its generator in ``rng``, which Layer does not declare (it has
                # only the read-only ``random_generator``), hence the ignore
                generator = np.random.Generator(type(generator.bit_generator)())
                layer.rng = generator  # type: ignore[attr-defined]  # rng: see the comment above
            generator.bit_generator.state = state
            given[id(generator)] = state

    def __reduce__(self):
        # through the constructor: the specs, then the weights and the generators' states
        return (
            _rebuild_network,
            (
                self.specs(),
                self.input_shape,
                self.loss.name,
                self.dtype.name,
                self.flat_values.copy(),
                self.generator_states(),
            ),
        )

    def clone(self) -> Network:
        """An independent copy: same layers, weights and generator states, its own buffers."""
        return _rebuild_network(*self.__reduce__()[1])

    # -- the two passes ----------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The network's output for a batch: the layers in order (``execution_order``).

        Parameters
        ----------
        x : ndarray of shape [n, *input_shape]
            The batch, in the network's dtype.
        training : bool, default False
            Training mode (see ``Layer.forward``): dropout and shifts act, and the layers remember
            what ``backward`` needs.

        Returns
        -------
        ndarray of shape [n, *output_shape]
            The output: logits or activations.
        """
        if training:  # the last batch's arrays are freed before this one's are made
            self.forget()
        for index in self.execution_order:
            x = self.layers[index].forward(x, training)
        return x

    def forget(self) -> None:
        """Let every layer go of what the last training forward pass kept for the backward pass
        (a convolutional network's maps: tens of MB; ``backward`` does so layer by layer, and
        a training forward pass first, for the layers it did not reach)."""
        for layer in self.layers:
            layer.forget()

    def backward(self, grad_output: np.ndarray) -> None:
        """Backpropagate dL/d(output) through every layer, filling the gradients.

        The layers run in reverse, after a forward pass in training mode, down to the first layer
        with parameters (dL/dx for the input is not computed: nothing uses it). Each layer then
        lets go of what its forward pass kept, so the batch's maps are freed as the gradient
        passes them: a second ``backward`` needs a new forward pass (as in PyTorch).

        Parameters
        ----------
        grad_output : ndarray of shape [n, *output_shape]
            dL/d(output).
        """
        grad: np.ndarray | None = grad_output
        first = self._first_trainable
        # the layers from the last to the first with parameters, in the forward pass's order reversed
        # (the first one with parameters is never moved by ``execution_order``)
        for index in reversed(self.execution_order[first:]):
            assert grad is not None  # every layer after the first trainable one returns dL/d(input)
            layer = self.layers[index]
            grad = layer.backward(grad, need_input_grad=index > first)
            layer.forget()

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Forward and backward on a batch in training mode: fills every parameter's gradient
        of the batch's mean loss.

        Parameters
        ----------
        x : ndarray of shape [n, *input_shape]
            The batch.
        y : ndarray of shape [n, n_outputs]
            Its targets (one-hot rows for classification).
        weights : ndarray of shape [n], optional
            Each example's weight: the loss is then the weighted mean (see
            ``Loss.weighted_value_and_gradient``).

        Returns
        -------
        float
            The batch's loss (the caller checks it: it is NaN or infinite when training diverged).
        """
        output = self.forward(x, training=True)
        if weights is None:
            value, grad = self.loss.value_and_gradient(output, y)
        else:
            value, grad = self.loss.weighted_value_and_gradient(output, y, weights)
        self.backward(grad)
        return value

    # -- parameters ----------------------------------------------------------------------
    def parameters(self) -> list[Parameter]:
        """Every layer's ``Parameter`` records, in layer order (views into the flat buffers)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Each parameter with its name, ``layers.<index>.<name>`` ("layers.0.weight", ...), in order."""
        for index, layer in enumerate(self.layers):
            for p in layer.parameters():
                yield f"layers.{index}.{p.name}", p

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, by name ("layers.0.weight", ...)."""
        return {name: p.value.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy parameters in place.

        Parameters
        ----------
        state : dict of str to ndarray
            An array per parameter name ("layers.0.weight", ...), of the parameter's shape (cast
            to the network's dtype, "same_kind").

        Raises
        ------
        ValueError
            For missing, extra or mis-shaped entries.
        """
        named = dict(self.named_parameters())
        missing = sorted(set(named) - set(state))
        unexpected = sorted(set(state) - set(named))
        if missing or unexpected:
            raise ValueError(f"state does not fit this network: missing {missing}, unexpected {unexpected}")
        for name, p in named.items():
            value = np.asarray(state[name])
            if value.shape != p.value.shape:
                raise ValueError(f"{name} has shape {value.shape}, but the network expects {p.value.shape}")
            np.copyto(p.value, value, casting="same_kind")

    def load_flat_values(self, values: np.ndarray) -> None:
        """Set every parameter at once from a copy of ``flat_values``.

        Parameters
        ----------
        values : ndarray of shape [n_parameters]
            All parameters, in the order of ``flat_values``.
        """
        np.copyto(self.flat_values, values)

    @property
    def n_features(self) -> int:
        """The number of input values per example (784 for MNIST images)."""
        return math.prod(self.input_shape)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The shape of one example's output (the input shape for a network without layers)."""
        return self.layer_shapes[-1] if self.layer_shapes else self.input_shape

    @property
    def n_outputs(self) -> int:
        """The number of output values per example (the number of classes for a classifier)."""
        return math.prod(self.output_shape)

    # -- prediction ------------------------------------------------------------------------
    def inference_batch(self, batch_size: int) -> int:
        """``batch_size``, or fewer examples where their activations would pass
        ``kernels.ACTIVATION_ELEMENTS`` (a convolutional network's maps are large)."""
        return max(1, min(int(batch_size), kernels.ACTIVATION_ELEMENTS // self._values_per_example))

    def predict_output(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """The network's raw output for all of X, in inference mode.

        Parameters
        ----------
        X : array_like of shape [n, *input_shape] or [n, n_features]
            The examples (see ``as_input``).
        batch_size : int, default 8192
            Computed in batches of at most this many examples (fewer where their activations
            would be large).

        Returns
        -------
        ndarray of shape [n, *output_shape]
        """
        X = self.as_input(X)
        batch_size = self.inference_batch(batch_size)
        if X.shape[0] <= batch_size:
            return self.forward(X)
        out = np.empty((X.shape[0], *self.output_shape), dtype=self.dtype)
        for start in range(0, X.shape[0], batch_size):
            out[start : start + batch_size] = self.forward(X[start : start + batch_size])
        return out

    def predict_proba(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Class probabilities as the loss defines them (softmax for cross-entropy).

        Parameters
        ----------
        X : array_like of shape [n, *input_shape] or [n, n_features]
            The examples.
        batch_size : int, default 8192
            See ``predict_output``.

        Returns
        -------
        ndarray of shape [n, n_outputs]
        """
        return self.loss.probabilities(self.predict_output(X, batch_size))

    def predict(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Index of the largest output for each example.

        Parameters
        ----------
        X : array_like of shape [n, *input_shape] or [n, n_features]
            The examples.
        batch_size : int, default 8192
            See ``predict_output``.

        Returns
        -------
        ndarray of int, shape [n]
        """
        return np.argmax(self.predict_output(X, batch_size), axis=1)

    def as_input(self, X) -> np.ndarray:
        """X as the network's input.

        Parameters
        ----------
        X : array_like of shape [n, *input_shape] or [n, n_features]
            The examples; rows of n_features values are reshaped to the input shape.

        Returns
        -------
        ndarray of shape [n, *input_shape]
            In the network's dtype.

        Raises
        ------
        ValueError
            Naming a shape that does not fit.
        """
        X = np.asarray(X)
        if X.ndim < 2:
            raise ValueError(f"X must be 2-D [n_examples, n_features], got shape {X.shape}")
        if X.shape[1:] != self.input_shape:
            if len(self.input_shape) > 1 and X.ndim == 2 and X.shape[1] == self.n_features:
                X = X.reshape(X.shape[0], *self.input_shape)
            elif X.ndim == 2 and len(self.input_shape) == 1:
                raise ValueError(f"X has {X.shape[1]} features, but the network expects {self.n_features}")
            else:
                raise ValueError(
                    f"X has examples of shape {X.shape[1:]}, but the network expects "
                    f"{self.input_shape} (or rows of {self.n_features} values)"
                )
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        return X


def execution_order(layers: Sequence[Layer]) -> list[int]:
    """The order the forward pass runs ``layers`` in (the backward pass, the reverse): the stack's,
    except that a ReLU followed by a max-pool runs after it.

    That is the same network, exactly: a window's max of relu(x) is relu of its max of x (both
    are a value of x, or 0), and the gradient goes to the same input, the window's first maximum
    of x, times relu' there (when the maximum is not positive, both ways give 0). The ReLU then
    touches one value per window instead of each of them (a quarter, for a 2 x 2 pool). This is
    done only when a layer with parameters comes later: a ReLU's backward may overwrite the
    gradient it is given, which must then be the network's own array, not the caller's.

    Parameters
    ----------
    layers : sequence of Layer
        The stack.

    Returns
    -------
    list of int
        The layers' indices, in the order they run.
    """
    order = list(range(len(layers)))
    index = 0
    while index < len(layers) - 1:
        layer, after = layers[index], layers[index + 1]
        if (
            isinstance(layer, Activation)
            and layer.name == "relu"
            and isinstance(after, MaxPool2D)
            and any(later.parameters() for later in layers[index + 2 :])
        ):
            order[index], order[index + 1] = index + 1, index
            index += 2
        else:
            index += 1
    return order


def build_layers(
    specs: Sequence[dict], input_shape: Sequence[int] | int, streams: RandomStreams, dtype=np.float32
) -> list[Layer]:
    """The layers of ``specs``, in order, each built for the shape the one before it gives.

    Activations work in place once some earlier layer makes new arrays (they then only ever
    overwrite the network's own temporaries, never the caller's input).

    Parameters
    ----------
    specs : sequence of dict
        The layer specs (see ``specs``).
    input_shape : sequence of int or int
        The shape of one example.
    streams : RandomStreams
        Where the layers draw their random numbers from.
    dtype : numpy dtype, default float32
        The dtype of the parameters.

    Returns
    -------
    list of Layer

    Raises
    ------
    SpecError
        Naming the index of the layer that cannot be built and the shapes involved.
    """
    shape = _shape(input_shape)
    layers: list[Layer] = []
    for index, spec in enumerate(specs):
        source = "the input" if index == 0 else f"layer {index - 1}"
        try:
            layer = build_layer(spec, shape, streams, dtype)
        except SpecError as error:
            raise SpecError(f"layer {index} of the stack (examples of shape {shape} from {source}): {error}") from None
        try:
            output = layer.output_shape(shape)
        except SpecError as error:
            raise SpecError(
                f"layer {index} of the stack ({type(layer).__name__}) cannot take the shape {shape} "
                f"that {source} gives: {error}"
            ) from None
        if isinstance(layer, Activation) and any(earlier.fresh_output for earlier in layers):
            layer.inplace = True
        layers.append(layer)
        shape = output
    return layers


def build_network(
    specs: Sequence[dict],
    input_shape: Sequence[int] | int,
    loss: Loss | str = "mse",
    dtype=np.float32,
    seed: int | None = 123,
) -> Network:
    """A network from a stack of layer specs, for examples of ``input_shape``.

    Parameters
    ----------
    specs : sequence of dict
        The layer specs, e.g. ``[{"type": "Dense", "n_out": 50}, {"type": "Activation", "name":
        "sigmoid"}, ...]``; each layer is checked against the shape the one before it gives.
    input_shape : sequence of int or int
        The shape of one example, e.g. ``(784,)`` or ``(1, 28, 28)``.
    loss : Loss or str, default "mse"
        The loss, or its name.
    dtype : numpy dtype, default float32
        float32 or float64.
    seed : int or None, default 123
        The random numbers come from this one seed (``RandomStreams``): the weights from one
        ``np.random.RandomState(seed)`` layer by layer, in order, as the chapter draws
        ``weight_h`` and then ``weight_out``; dropout masks and shifts from generators of their own.

    Returns
    -------
    Network

    Raises
    ------
    SpecError
        For a spec that cannot be built or a shape that does not fit.
    """
    dtype = check_float_dtype(dtype)
    layers = build_layers(specs, input_shape, RandomStreams(seed), dtype)
    return Network(layers, loss, dtype=dtype, input_shape=input_shape)


def _rebuild_network(specs, input_shape, loss, dtype, flat_values, generator_states) -> Network:
    network = build_network(specs, input_shape, loss, dtype, seed=0)
    network.load_flat_values(flat_values)
    network.set_generator_states(generator_states)
    return network
