"""Layers: each one's forward pass and backward pass side by side.

A layer maps a batch ``x`` of shape ``[n_examples, *input_shape]`` to ``[n_examples, *output_shape]``
(``[n, n_in] -> [n, n_out]`` for the dense layers of a multilayer perceptron).

* ``forward(x, training=False)`` computes the output. In training it remembers what the
  backward pass needs (the input for ``Dense``, the output for activations, the mask for
  ``Dropout``); at inference it changes nothing in the layer, so one network can answer many
  threads at once.
* ``backward(grad_out)`` takes dL/d(output) and returns dL/d(input); a layer with
  parameters also writes dL/d(parameter) into its gradient arrays, overwriting them
  (gradients are not accumulated across calls, so there is no ``zero_grad``).
* ``parameters()`` lists ``Parameter(name, value, grad, decay)`` records that the
  optimizers update in place.
* ``config()`` is the layer's spec: its type and settings as JSON-ready data, from which
  ``specs.build_layer`` makes the same layer again (``output_shape`` says what it gives for an input
  shape, so a stack of specs is checked before anything is computed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from . import kernels
from .activations import get_activation
from .initializers import get_initializer

__all__ = ["Parameter", "Layer", "Dense", "Activation", "Dropout", "RandomShift", "RandomStreams", "SpecError"]


_T = TypeVar("_T")


class SpecError(ValueError):
    """A layer spec that cannot be built: unknown type or setting, or a shape that does not fit."""


@dataclass
class Parameter:
    """An array of a layer's state, its gradient (same shape and dtype), whether L2 applies to it
    (a bool, or for a flat buffer of several parameters a boolean mask of its entries) and whether
    it is trained (False for state such as batch normalisation's running statistics, whose
    gradient stays zero)."""

    name: str
    value: np.ndarray
    grad: np.ndarray
    decay: bool | np.ndarray = True
    trainable: bool = True


class RandomStreams:
    """The random numbers a network is built and trained with, all from one seed.

    ``weights``: one ``RandomState`` that every layer with weights draws from, in layer order
    (the chapter draws ``weight_h`` and then ``weight_out`` from ``RandomState(123)``);
    ``dropout``: one generator shared by the dropout layers (``default_rng(seed)``);
    ``shift``: the shift augmentation's own generator, independent of dropout's (child 0 of the
    seed's ``SeedSequence``). The generators are made when first asked for.
    """

    def __init__(self, seed: int | None):
        self.seed = seed
        self.weights = np.random.RandomState(seed)
        self._dropout: np.random.Generator | None = None
        self._shift: np.random.Generator | None = None

    @property
    def dropout(self) -> np.random.Generator:
        """The generator the dropout layers share: ``default_rng(seed)``."""
        if self._dropout is None:
            self._dropout = np.random.default_rng(self.seed)
        return self._dropout

    @property
    def shift(self) -> np.random.Generator:
        """The shift augmentation's generator: child 0 of the seed's ``SeedSequence``."""
        if self._shift is None:
            self._shift = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(1)[0])
        return self._shift


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _shape(shape) -> tuple[int, ...]:
    return tuple(int(size) for size in shape)


class Layer:
    """Base class: a layer without parameters."""

    #: True when the output is always a new array (never the input or a view of it): an
    #: activation after such a layer may work in place
    fresh_output = False

    #: the attributes in which a training forward pass keeps the arrays its backward pass needs
    remembered: tuple[str, ...] = ()

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The layer's output for a batch.

        Parameters
        ----------
        x : ndarray of shape [n_examples, *input_shape]
            The batch.
        training : bool, default False
            In training the layer remembers what ``backward`` needs (the input for ``Dense``, the
            output for activations, the mask for ``Dropout``); at inference it changes nothing in
            the layer, so one network can answer many threads at once.

        Returns
        -------
        ndarray of shape [n_examples, *output_shape]
            The output.
        """
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate through the layer, after a forward pass in training mode.

        A layer with parameters also writes dL/d(parameter) into its gradient arrays,
        overwriting them (gradients are not accumulated across calls, so there is no ``zero_grad``).

        Parameters
        ----------
        grad_out : ndarray of shape [n_examples, *output_shape]
            dL/d(output).
        need_input_grad : bool, default True
            False when nothing uses dL/d(input) (the network's first trainable layer): a layer
            may then skip computing it and return None.

        Returns
        -------
        ndarray of shape [n_examples, *input_shape] or None
            dL/d(input).
        """
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        """The layer's ``Parameter`` records, which the optimizers update in place (none here)."""
        return []

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one example's output for one example's input shape.

        Parameters
        ----------
        input_shape : tuple of int
            One example's shape, e.g. ``(784,)`` or ``(1, 28, 28)``.

        Returns
        -------
        tuple of int
            One example's output shape.

        Raises
        ------
        SpecError
            If the layer cannot take that input.
        """
        return _shape(input_shape)

    def forget(self) -> None:
        """Let go of what the last training forward pass kept for the backward pass
        (``Network.backward`` calls it once the layer's backward has run, and a training forward
        pass first, so that one batch's arrays are freed before the next batch's are made)."""
        for name in self.remembered:
            setattr(self, name, None)

    def _remembered(self, value: _T | None) -> _T:
        """What the last forward pass in training kept for the backward pass."""
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before a forward pass in training mode")
        return value

    @property
    def random_generator(self) -> np.random.Generator | None:
        """The generator the layer draws from in training (dropout masks, shifts), if any."""
        return None

    def bind_parameter(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        """Move parameter ``name`` and its gradient into the given arrays, keeping its current values.

        Parameters
        ----------
        name : str
            The parameter's name ("weight", "bias", ...).
        value, grad : ndarray of shape [size]
            1-D segments of a network's flat buffers of values and gradients, as large as the
            parameter; the layer's arrays become views of them.
        """
        current = getattr(self, name)
        value, grad = value.reshape(current.shape), grad.reshape(current.shape)
        np.copyto(value, current)
        np.copyto(grad, getattr(self, "grad_" + name))
        setattr(self, name, value)
        setattr(self, "grad_" + name, grad)

    def config(self) -> dict:
        """The layer's spec: what is needed to rebuild it (without its weights), as JSON-ready data."""
        return {"type": type(self).__name__}

    @classmethod
    def from_config(
        cls, config: dict, input_shape: tuple[int, ...] | None, streams: RandomStreams, dtype: np.dtype
    ) -> Layer:
        """The layer a spec describes, for inputs of ``input_shape``.

        Parameters
        ----------
        config : dict
            The spec's settings only, without "type".
        input_shape : tuple of int or None
            One example's input shape; None: the spec is complete.
        streams : RandomStreams
            Where layers with weights or random numbers draw them from.
        dtype : numpy.dtype
            The dtype of the layer's parameters.

        Returns
        -------
        Layer
        """
        return cls(**config)

    # a copy or a pickle of a layer goes through its spec: build_layer, then the values
    def __reduce__(self):
        state = {p.name: p.value.copy() for p in self.parameters()}
        dtype = state[next(iter(state))].dtype.str if state else np.dtype(np.float32).str
        generator = self.random_generator
        return (
            _rebuild_layer,
            (self.config(), dtype, state, None if generator is None else generator.bit_generator.state),
        )


def _rebuild_layer(config: dict, dtype: str, state: dict, generator_state):
    from .specs import build_layer  # the table of layer types, which imports this module

    layer = build_layer(config, None, RandomStreams(0), np.dtype(dtype))
    for p in layer.parameters():
        np.copyto(p.value, state[p.name])
    if generator_state is not None:
        generator = layer.random_generator
        assert generator is not None  # the state came from a layer of this spec, which has one
        generator.bit_generator.state = generator_state
    return layer


class Dense(Layer):
    """Fully connected layer: z = x W^T + b, with W of shape [n_out, n_in] as in the chapter.

    W is kept in memory as its transpose, a C-contiguous [n_in, n_out] array, and
    ``weight`` is the [n_out, n_in] view of it: the forward product x @ W^T then reads
    a plain row-major matrix, which OpenBLAS multiplies faster for these shapes.

    Parameters
    ----------
    n_in : int
        Inputs per example (a positive integer).
    n_out : int
        Outputs per example, the layer's units (a positive integer).
    init : str, default "normal"
        The initializer of ``weight`` (see ``initializers``): "normal" is the chapter's N(0, 0.1).
    rng : numpy.random.RandomState or int or None
        What ``weight`` is drawn from, [n_out, n_in] in float64 (an int or None seeds a new
        ``RandomState``).
    dtype : numpy dtype, default float32
        The dtype of the parameters. ``bias`` [n_out] starts at zero.
    """

    fresh_output = True
    remembered = ("_x",)

    def __init__(
        self,
        n_in: int,
        n_out: int,
        init: str = "normal",
        rng: np.random.RandomState | int | None = None,
        dtype=np.float32,
    ):
        self.n_in = _check_positive_int("n_in", n_in)
        self.n_out = _check_positive_int("n_out", n_out)
        initializer = get_initializer(init)
        self.init = init
        if not isinstance(rng, np.random.RandomState):
            rng = np.random.RandomState(rng)
        dtype = np.dtype(dtype)
        # drawn [n_out, n_in] in float64 from the RandomState (the chapter's order), stored as W^T
        weight = initializer(rng, (self.n_out, self.n_in), self.n_in, self.n_out).astype(dtype)
        self._set_weight_storage(np.ascontiguousarray(weight.T), np.zeros((self.n_in, self.n_out), dtype))
        self.bias = np.zeros(self.n_out, dtype=dtype)
        self.grad_bias = np.zeros_like(self.bias)
        self._x: np.ndarray | None = None

    def _set_weight_storage(self, weight_t: np.ndarray, grad_weight_t: np.ndarray) -> None:
        self._weight_t, self._grad_weight_t = weight_t, grad_weight_t  # [n_in, n_out]
        self.weight, self.grad_weight = weight_t.T, grad_weight_t.T  # [n_out, n_in] views

    def bind_parameter(self, name: str, value: np.ndarray, grad: np.ndarray) -> None:
        if name != "weight":
            return super().bind_parameter(name, value, grad)
        value = value.reshape(self.n_in, self.n_out)
        grad = grad.reshape(self.n_in, self.n_out)
        np.copyto(value, self._weight_t)
        np.copyto(grad, self._grad_weight_t)
        self._set_weight_storage(value, grad)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """z = x W^T + b.

        Parameters
        ----------
        x : ndarray of shape [n, n_in]
            The batch.
        training : bool, default False
            Remember x for the backward pass.

        Returns
        -------
        ndarray of shape [n, n_out]
            z, a new array.
        """
        # z = x W^T + b: [n, n_in] @ [n_in, n_out] -> [n, n_out]
        if training:
            self._x = x
        z = x @ self._weight_t
        z += self.bias
        return z

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True, x: np.ndarray | None = None):
        """Write dL/dW = delta^T x and dL/db = sum over examples of delta into the gradients.

        Parameters
        ----------
        grad_out : ndarray of shape [n, n_out]
            delta = dL/dz.
        need_input_grad : bool, default True
            Compute and return dL/dx.
        x : ndarray of shape [n, n_in], optional
            The input; defaults to the input of the last training forward pass.

        Returns
        -------
        ndarray of shape [n, n_in] or None
            dL/dx = delta W, or None without ``need_input_grad``.
        """
        x = self._remembered(self._x) if x is None else x
        # dL/dW = delta^T x: [n_out, n] @ [n, n_in] -> [n_out, n_in], computed as its
        # transpose x^T delta: [n_in, n] @ [n, n_out] -> [n_in, n_out]
        np.matmul(x.T, grad_out, out=self._grad_weight_t)
        # dL/db = sum over examples of delta: [n, n_out] -> [n_out]
        kernels.sum_rows(grad_out, out=self.grad_bias)
        if not need_input_grad:
            return None
        # dL/dx = delta W: [n, n_out] @ [n_out, n_in] -> [n, n_in]
        return grad_out @ self._weight_t.T

    def parameters(self) -> list[Parameter]:
        """``weight`` [n_out, n_in] (with weight decay) and ``bias`` [n_out] (without)."""
        return [
            Parameter("weight", self.weight, self.grad_weight, decay=True),
            Parameter("bias", self.bias, self.grad_bias, decay=False),
        ]

    def output_shape(self, input_shape):
        if _shape(input_shape) != (self.n_in,):
            raise SpecError(
                f"Dense({self.n_in} -> {self.n_out}) takes inputs of shape ({self.n_in},), got {_shape(input_shape)}"
            )
        return (self.n_out,)

    def config(self) -> dict:
        return {"type": "Dense", "n_in": self.n_in, "n_out": self.n_out, "init": self.init}

    @classmethod
    def from_config(cls, config, input_shape, streams, dtype):
        settings = dict(config)
        if input_shape is not None:
            if len(input_shape) != 1:
                raise SpecError(
                    f"Dense takes flat inputs [n, features], got examples of shape "
                    f"{_shape(input_shape)} (put a Flatten layer before it)"
                )
            settings.setdefault("n_in", input_shape[0])
            if settings["n_in"] != input_shape[0]:
                raise SpecError(f"Dense has n_in = {settings['n_in']}, but its input has {input_shape[0]} features")
        n_in = settings.pop("n_in")
        return cls(
            n_in, settings.pop("n_out"), settings.pop("init", "normal"), rng=streams.weights, dtype=dtype, **settings
        )


class Activation(Layer):
    """An element-wise (or, for softmax, row-wise) activation a = f(z).

    With ``inplace=True`` the forward pass overwrites its input z with a, and the backward
    pass overwrites dL/da with dL/dz: right inside a network, where z and dL/da are
    temporaries that nothing else holds, and it saves two allocations per layer and batch.

    Parameters
    ----------
    name : str
        The activation's name, one of ``activations.ACTIVATIONS`` ("leaky-relu" and "leaky_relu"
        are the same, "logistic" is "sigmoid").
    inplace : bool, default False
        Work in place, as above.
    """

    fresh_output = True
    remembered = ("_a",)

    def __init__(self, name: str, inplace: bool = False):
        self.function = get_activation(name)
        self.name = self.function.name
        self.inplace = bool(inplace)
        self._a: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """a = f(z).

        Parameters
        ----------
        x : ndarray of shape [n, *units]
            z (overwritten with a when ``inplace``).
        training : bool, default False
            Remember a for the backward pass.

        Returns
        -------
        ndarray of shape [n, *units]
            a.
        """
        # a = f(z): [n, units] -> [n, units]
        a = self.function.forward(x, x if self.inplace else np.empty_like(x))
        if training:
            self._a = a
        return a

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True, a: np.ndarray | None = None):
        """dL/dz = dL/da * f'(z), with f' written in terms of a.

        Parameters
        ----------
        grad_out : ndarray of shape [n, *units]
            dL/da (overwritten with dL/dz when ``inplace``).
        need_input_grad : bool, default True
            Unused: an activation always returns dL/dz.
        a : ndarray of shape [n, *units], optional
            The activations; defaults to the output of the last training forward pass.

        Returns
        -------
        ndarray of shape [n, *units]
            dL/dz.
        """
        a = self._remembered(self._a) if a is None else a
        # dL/dz = dL/da * f'(z), f' written in terms of a
        return self.function.backward(grad_out, a, grad_out if self.inplace else np.empty_like(grad_out))

    def output_shape(self, input_shape):
        if self.name == "softmax" and len(input_shape) != 1:
            raise SpecError(f"softmax normalizes rows [n, k], got examples of shape {_shape(input_shape)}")
        return _shape(input_shape)

    def config(self) -> dict:
        return {"type": "Activation", "name": self.name}


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability p and scale the rest
    by 1 / (1 - p), so that nothing changes at inference, where the layer is the identity.

    ``fixed_mask`` (an array of 0 and 1/(1-p) of the input's shape) replaces the random
    mask when set; the gradient check uses it to make the layer deterministic.

    Parameters
    ----------
    p : float
        The probability of dropping a unit, in [0, 1).
    rng : numpy.random.Generator or int or None
        The masks' generator (an int or None seeds a new ``default_rng``).
    """

    def __init__(self, p: float, rng: np.random.Generator | int | None = None):
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = p
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.fixed_mask: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    @property
    def random_generator(self):
        return self.rng

    def _draw_mask(self, x: np.ndarray) -> np.ndarray:
        # keep each unit with probability 1 - p, scaled by 1 / (1 - p): E[mask] = 1
        mask = self.rng.random(x.shape, dtype=x.dtype)
        np.greater_equal(mask, self.p, out=mask)  # 1.0 where kept, 0.0 where dropped
        mask *= 1.0 / (1.0 - self.p)
        return mask

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """y = x * mask in training (a new mask each call); x itself at inference and for p = 0.

        Parameters
        ----------
        x : ndarray of shape [n, *units]
            The batch.
        training : bool, default False
            Drop units (and remember the mask).

        Returns
        -------
        ndarray of shape [n, *units]
            y.
        """
        if not training:
            return x  # the identity at inference
        if self.p == 0.0:
            self._mask = None
            return x
        self._mask = self.fixed_mask if self.fixed_mask is not None else self._draw_mask(x)
        # y = x * mask
        return x * self._mask

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        """dL/dx = dL/dy * mask, or dL/dy itself when the layer was the identity.

        Parameters
        ----------
        grad_out : ndarray of shape [n, *units]
            dL/dy.
        need_input_grad : bool, default True
            Unused: dL/dx is always returned.

        Returns
        -------
        ndarray of shape [n, *units]
            dL/dx.
        """
        # dL/dx = dL/dy * mask (or dL/dy unchanged when the layer was the identity)
        if self._mask is None:
            return grad_out
        return grad_out * self._mask

    def config(self) -> dict:
        return {"type": "Dropout", "p": self.p}

    @classmethod
    def from_config(cls, config, input_shape, streams, dtype):
        return cls(rng=streams.dropout, **config)


class RandomShift(Layer):
    """Data augmentation as an input layer: in training, each image of the batch moves by a
    random whole number of pixels, up to ``max_shift`` in each direction; the pixels it
    uncovers take the image's smallest value (its background). At inference it is the
    identity, like dropout.

    x [n, side * side] holds square images row by row. ``fill`` fixes the value of the
    uncovered pixels instead (e.g. -1.0, the chapter's background). ``fixed_offsets`` (an int
    array [n, 2] of (down, right) shifts) replaces the random ones when set (the gradient check).
    The backward pass moves the gradient back by the opposite offsets (zero where the
    forward pass filled), which is the adjoint of the selection the forward pass makes.
    Images may also be given as [n, channels, height, width] (every channel moved alike).

    Parameters
    ----------
    max_shift : int
        The largest shift, in pixels, in each direction (a positive integer).
    rng : numpy.random.Generator or int or None
        The offsets' generator (an int or None seeds a new ``default_rng``).
    fill : float or None
        The value of the uncovered pixels; None: each image's smallest value.
    """

    def __init__(self, max_shift: int, rng: np.random.Generator | int | None = None, fill: float | None = None):
        self.max_shift = _check_positive_int("max_shift", max_shift)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.fill = fill
        self.fixed_offsets: np.ndarray | None = None
        self._offsets: np.ndarray | None = None

    @property
    def random_generator(self):
        return self.rng

    @staticmethod
    def shift(images: np.ndarray, offsets: np.ndarray, margin: int, fill) -> np.ndarray:
        """Each image moved by its (down, right) offset.

        Parameters
        ----------
        images : ndarray of shape [n, side * side] or [n, c, h, w]
            Square images as rows, or image stacks (every channel moved alike).
        offsets : ndarray of int, shape [n, 2]
            Each image's (down, right) shift, |offset| <= margin.
        margin : int
            The largest shift.
        fill : float or ndarray of shape [n]
            Where nothing moves in: a scalar, or one value per image.

        Returns
        -------
        ndarray of the shape of ``images``
            The moved images.

        Raises
        ------
        ValueError
            If rows do not hold square images.
        """
        if images.ndim == 4:
            n, c, h, w = images.shape
            framed = np.empty((n, c, h + 2 * margin, w + 2 * margin), dtype=images.dtype)
            framed[...] = np.reshape(fill, (-1, 1, 1, 1)) if np.ndim(fill) else fill
            framed[:, :, margin : margin + h, margin : margin + w] = images
            # every h x w window of the frame, as a view: [n, c, 2m+1, 2m+1, h, w]
            windows = np.lib.stride_tricks.sliding_window_view(framed, (h, w), axis=(2, 3))
            rows, columns = margin - offsets[:, 0], margin - offsets[:, 1]
            return windows[np.arange(n)[:, None], np.arange(c)[None, :], rows[:, None], columns[:, None]]
        n, size = images.shape
        side = int(round(np.sqrt(size)))
        if side * side != size:
            raise ValueError(f"RandomShift needs square images, but rows have {size} values")
        framed = np.empty((n, side + 2 * margin, side + 2 * margin), dtype=images.dtype)
        framed[...] = np.reshape(fill, (-1, 1, 1)) if np.ndim(fill) else fill
        framed[:, margin : margin + side, margin : margin + side] = images.reshape(n, side, side)
        # every side x side window of the frame, as a view: [n, 2m+1, 2m+1, side, side]
        windows = np.lib.stride_tricks.sliding_window_view(framed, (side, side), axis=(1, 2))
        # the window at (m - down, m - right) shows the image moved down and right
        rows, columns = margin - offsets[:, 0], margin - offsets[:, 1]
        return windows[np.arange(n), rows, columns].reshape(n, size)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """In training each image moved by a random offset (or ``fixed_offsets``); x at inference.

        Parameters
        ----------
        x : ndarray of shape [n, side * side] or [n, c, h, w]
            The images.
        training : bool, default False
            Move them (and remember the offsets).

        Returns
        -------
        ndarray of the shape of x
        """
        if not training:
            return x  # the identity at inference
        if self.fixed_offsets is not None:
            offsets = self.fixed_offsets
        else:
            offsets = self.rng.integers(-self.max_shift, self.max_shift + 1, size=(x.shape[0], 2))
        self._offsets = offsets
        background = x.reshape(x.shape[0], -1).min(axis=1) if self.fill is None else self.fill
        return self.shift(x, offsets, self.max_shift, background)

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        """The gradient moved back by the opposite offsets, 0 where the forward pass filled
        (dL/dy itself when the layer was the identity).

        Parameters
        ----------
        grad_out : ndarray of shape [n, side * side] or [n, c, h, w]
            dL/dy.
        need_input_grad : bool, default True
            Unused: dL/dx is always returned.

        Returns
        -------
        ndarray of the shape of grad_out
            dL/dx.
        """
        # dL/dx: the gradient moved back by the opposite offsets, 0 where the forward pass filled
        if self._offsets is None:
            return grad_out
        return self.shift(grad_out, -self._offsets, self.max_shift, 0.0)

    def output_shape(self, input_shape):
        shape = _shape(input_shape)
        side = int(round(np.sqrt(shape[0]))) if len(shape) == 1 else 0
        if len(shape) != 3 and (len(shape) != 1 or side * side != shape[0]):
            raise SpecError(
                f"RandomShift moves square images given as rows [n, side * side], or images "
                f"[n, channels, height, width]; got examples of shape {shape}"
            )
        return shape

    def config(self) -> dict:
        config: dict[str, Any] = {"type": "RandomShift", "max_shift": self.max_shift}
        if self.fill is not None:
            config["fill"] = float(self.fill)
        return config

    @classmethod
    def from_config(cls, config, input_shape, streams, dtype):
        return cls(rng=streams.shift, **config)
