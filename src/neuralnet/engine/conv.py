"""Convolutional layers: Conv2D, MaxPool2D, AvgPool2D and Flatten, forward and backward side by side.

Images are ``[n, channels, height, width]`` (PyTorch's NCHW); a convolution's weight is
``[out_channels, in_channels, kh, kw]`` and its bias ``[out_channels]``, PyTorch's layout and names,
so weights can be compared and exported as they are.

The convolution is written as im2col and one matrix product: the input's kh x kw patches (one per
output position, every channel) become the rows of a matrix ``cols`` [n oh ow, c kh kw], and

    z = cols W^T + b            [n oh ow, c kh kw] @ [c kh kw, out] -> [n oh ow, out] -> NCHW
    dL/dW^T = cols^T delta      [c kh kw, n oh ow] @ [n oh ow, out]
    dL/db = sum of delta over n, oh, ow
    dL/dcols = delta W          [n oh ow, out] @ [out, c kh kw], added back into the input (col2im)

How ``cols`` is laid out follows the input's memory. An input stored channels first (a C-ordered
NCHW array, as the data arrives) is copied channel by channel into a [c kh kw + 1, n oh ow] buffer
whose last row is ones, and ``cols`` is its transpose: each copy reads a contiguous image plane,
and the bias rides in the product as one more weight column (its gradient is the ones row's).
An input stored channels last (the NHWC view a layer before gives) is copied patch by patch into
[n oh ow, kh kw c] rows, and the bias is added after the product.

``cols`` is made for at most ``kernels.IM2COL_ELEMENTS`` entries at a time (the batch in chunks
of examples), so the buffers stay bounded whatever the batch size; the backward pass makes the
columns again rather than keeping them.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels
from .initializers import get_initializer
from .layers import Layer, Parameter, SpecError, _check_positive_int, _shape

__all__ = ["Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "output_size"]


def _pair(name: str, value) -> tuple[int, int]:
    """A size given as one number or two, as two positive (or, for padding, non-negative) ints."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(values) != 2:
        raise ValueError(f"{name} must be a number or a pair of numbers, got {value!r}")
    low = 0 if name == "padding" else 1
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(
                f"{name} must be {'a whole number >= 0' if low == 0 else 'a positive integer'} "
                f"(or a pair of them), got {value!r}"
            )
    return int(values[0]), int(values[1])


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Positions of a kernel along one axis: floor((size + 2 padding - kernel) / stride) + 1.

    Parameters
    ----------
    size : int
        The input's size along the axis.
    kernel, stride, padding : int
        The kernel's size, its step and the zeros added at each end, along the axis.

    Returns
    -------
    int
        The output's size along the axis.
    """
    return (size + 2 * padding - kernel) // stride + 1


def _spatial(layer: str, input_shape, kernel, stride, padding) -> tuple[int, int, int, int]:
    """(channels, oh, ow, ...) for an image input, or a SpecError naming what does not fit."""
    shape = _shape(input_shape)
    if len(shape) != 3:
        raise SpecError(
            f"{layer} takes images [n, channels, height, width], got examples of shape {shape} "
            "(give the data's image shape, e.g. input_shape (1, 28, 28))"
        )
    channels, height, width = shape
    oh, ow = (
        output_size(height, kernel[0], stride[0], padding[0]),
        output_size(width, kernel[1], stride[1], padding[1]),
    )
    if oh < 1 or ow < 1:
        raise SpecError(
            f"{layer}'s kernel {kernel[0]}x{kernel[1]} (padding {padding[0]}x{padding[1]}) is larger "
            f"than its {height}x{width} input"
        )
    return channels, oh, ow, height


def _windows(x: np.ndarray, kernel, stride, padding, fill: float = 0.0) -> np.ndarray:
    """Every kh x kw patch of x [n, c, h, w] at the strided positions, as a view
    [n, c, oh, ow, kh, kw] (of a padded copy when there is padding)."""
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
    return windows[:, :, :: stride[0], :: stride[1]]


def _add_patches(target: np.ndarray, grad_windows: np.ndarray, kernel, stride) -> None:
    """target [n, c, h, w] (padded; a view in any memory order) += the gradients of its patches
    [n, c, oh, ow, kh, kw], each where its patch came from (overlapping patches add up)."""
    oh, ow = grad_windows.shape[2:4]
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            target[:, :, i : i + stride[0] * oh : stride[0], j : j + stride[1] * ow : stride[1]] += grad_windows[
                ..., i, j
            ]


def _add_windows(grad_windows: np.ndarray, input_shape, kernel, stride, padding) -> np.ndarray:
    """The adjoint of ``_windows``: gradients of the patches [n, c, oh, ow, kh, kw] added back into
    an array of the input's shape [n, c, h, w] (overlapping patches add up)."""
    n, c, h, w = input_shape
    ph, pw = padding
    grad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=grad_windows.dtype)
    _add_patches(grad, grad_windows, kernel, stride)
    return grad[:, :, ph : ph + h, pw : pw + w]


def _pad(x_nhwc: np.ndarray, padding) -> np.ndarray:
    """x [n, h, w, c] (channels last) with ``padding`` zeros around each image, contiguous:
    [n, h + 2 ph, w + 2 pw, c] (x itself when it is contiguous and there is no padding)."""
    ph, pw = padding
    if not (ph or pw):
        return np.ascontiguousarray(x_nhwc)
    n, h, w, c = x_nhwc.shape
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x_nhwc.dtype)
    padded[:, ph : ph + h, pw : pw + w] = x_nhwc
    return padded


def _channels_first(x: np.ndarray) -> bool:
    """Whether x [n, c, h, w] is in channels-first memory (a network's input images; one channel
    is both): its columns are then made channel-major (``_im2col_channel_major``)."""
    return x.flags.c_contiguous


def _pad_as_stored(x: np.ndarray, padding) -> np.ndarray:
    """x [n, c, h, w] padded, contiguous in the memory order the convolution uses for it: channels
    first when x is (``_channels_first``), else channels last. Returned as the [n, c, hp, wp] view."""
    if _channels_first(x):
        ph, pw = padding
        if not (ph or pw):
            return x
        n, c, h, w = x.shape
        padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
        padded[:, :, ph : ph + h, pw : pw + w] = x
        return padded
    return _pad(x.transpose(0, 2, 3, 1), padding).transpose(0, 3, 1, 2)


def _im2col_channel_major(x_padded: np.ndarray, kernel, stride, columns: np.ndarray) -> np.ndarray:
    """im2col of channels-first x [m, c, h, w] (padded, contiguous) into ``columns`` [c kh kw + 1,
    m oh ow] (any strides): row (ch, i, j) holds value (i, j) of every patch of channel ch, the last
    row is ones (the bias's input). Returns the columns as [m oh ow, c kh kw + 1] (its transpose).

    Each row is made of runs of ow values of one image row: long copies, where the channels-last
    ``_im2col`` would move runs of kw c values (5, for a first layer's 5 x 5 kernel)."""
    (kh, kw), (sh, sw) = kernel, stride
    m, c, hp, wp = x_padded.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    size = x_padded.itemsize
    patches = np.lib.stride_tricks.as_strided(
        x_padded,
        (c, kh, kw, m, oh, ow),
        (hp * wp * size, wp * size, size, c * hp * wp * size, wp * size * sh, size * sw),
        writeable=False,
    )
    row, column = columns.strides
    target = np.lib.stride_tricks.as_strided(
        columns, (c, kh, kw, m, oh, ow), (kh * kw * row, kw * row, row, oh * ow * column, ow * column, column)
    )
    np.copyto(target, patches)
    columns[-1] = 1.0
    return columns.T


def _im2col(x_padded: np.ndarray, kernel, stride, buffer: np.ndarray) -> np.ndarray:
    """im2col: x [m, h, w, c] (padded, contiguous, channels last) -> [m oh ow, kh kw c] in
    ``buffer`` (flat, at least that large), one row per output position.

    A patch's row of the kernel (kw positions, c channels) is kw c contiguous values of x, so the
    copy moves runs of kw c values: a view [m, oh, ow, kh, kw c] of x copied into the buffer."""
    (kh, kw), (sh, sw) = kernel, stride
    m, hp, wp, c = x_padded.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    assert x_padded.flags.c_contiguous, "x_padded must be contiguous"
    size = x_padded.itemsize
    s_w = c * size
    s_h = wp * s_w
    patches = np.lib.stride_tricks.as_strided(
        x_padded, (m, oh, ow, kh, kw * c), (hp * s_h, s_h * sh, s_w * sw, s_h, size), writeable=False
    )
    cols = buffer[: m * oh * ow * kh * kw * c].reshape(m, oh, ow, kh, kw * c)
    np.copyto(cols, patches)
    return cols.reshape(m * oh * ow, kh * kw * c)


def _examples_per_chunk(n: int, per_example: int) -> int:
    """Examples of a batch of n whose im2col columns (``per_example`` entries each) fit
    ``kernels.IM2COL_ELEMENTS``: at least 1, at most n."""
    return max(1, min(n, kernels.IM2COL_ELEMENTS // max(per_example, 1)))


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch): z[n, o] = sum_c W[o, c] * x[n, c] + b[o].

    ``weight`` [out_channels, in_channels, kh, kw], ``bias`` [out_channels]; they are drawn from
    ``rng`` with the layer's initializer (fan_in = in_channels kh kw, fan_out = out_channels kh kw).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output (positive integers).
    kernel_size : int or pair of int
        (kh, kw); one number for a square kernel.
    stride : int or pair of int, default 1
        The kernel's step along the height and the width.
    padding : int or pair of int, default 0
        Zeros added on each side along the height and the width.
    init : str, default "he"
        The initializer of ``weight`` (see ``initializers``).
    rng : numpy.random.RandomState or int or None
        What ``weight`` is drawn from (an int or None seeds a new ``RandomState``).
    dtype : numpy dtype, default float32
        The dtype of the parameters.
    """

    fresh_output = True
    remembered = ("_x", "_kept_cols")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        init: str = "he",
        rng: np.random.RandomState | int | None = None,
        dtype=np.float32,
    ):
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.out_channels = _check_positive_int("out_channels", out_channels)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = _pair("padding", padding)
        initializer = get_initializer(init)
        self.init = init
        if not isinstance(rng, np.random.RandomState):
            rng = np.random.RandomState(rng)
        dtype = np.dtype(dtype)
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels, kh, kw)
        self.weight = initializer(rng, shape, self.in_channels * kh * kw, self.out_channels * kh * kw).astype(dtype)
        self.grad_weight = np.zeros_like(self.weight)
        self.bias = np.zeros(self.out_channels, dtype=dtype)
        self.grad_bias = np.zeros_like(self.bias)
        self._x: np.ndarray | None = None  # the last training input, padded, channels last
        self._kept_cols: np.ndarray | None = None  # and its columns, when they are few

    def _column_count(self, channel_major: bool) -> int:
        """Entries of one row of the columns: c kh kw, and the ones of the bias when channel-major."""
        return self.weight[0].size + (1 if channel_major else 0)

    def _chunks(self, n: int, positions: int, channel_major: bool = False) -> int:
        """Examples per im2col chunk of the forward pass: the columns of at most IM2COL_ELEMENTS entries."""
        return _examples_per_chunk(n, positions * self._column_count(channel_major))

    def _weight_matrix(self, channel_major: bool = False) -> np.ndarray:
        """W [out, c, kh, kw] as the matrix that multiplies the columns: [out, kh kw c] for the
        channels-last columns, [out, c kh kw + 1] with b as its last column for channel-major ones."""
        if channel_major:
            return np.concatenate([self.weight.reshape(self.out_channels, -1), self.bias[:, None]], axis=1)
        return self.weight.transpose(0, 2, 3, 1).reshape(self.out_channels, -1)

    def _columns(self, x_padded: np.ndarray, buffer: np.ndarray) -> np.ndarray:
        """The columns of the padded images x [m, c, hp, wp] (a view of memory in either order) made
        in ``buffer`` (flat, large enough), as [m oh ow, K]: channel-major ones (K = c kh kw + 1)
        for channels-first memory, channels-last ones (K = kh kw c) otherwise."""
        if _channels_first(x_padded):
            m, _, hp, wp = x_padded.shape
            oh, ow = (
                output_size(hp, self.kernel_size[0], self.stride[0], 0),
                output_size(wp, self.kernel_size[1], self.stride[1], 0),
            )
            rows = self._column_count(True)
            columns = buffer[: rows * m * oh * ow].reshape(rows, m * oh * ow)
            return _im2col_channel_major(x_padded, self.kernel_size, self.stride, columns)
        return _im2col(x_padded.transpose(0, 2, 3, 1), self.kernel_size, self.stride, buffer)

    def _transposed(self) -> bool:
        """Whether dL/dx is computed as a convolution of delta (stride 1, padding < kernel)."""
        return self.stride == (1, 1) and all(p < k for p, k in zip(self.padding, self.kernel_size))

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """z = conv(x, W) + b, by im2col and one matrix product per chunk of examples.

        Parameters
        ----------
        x : ndarray of shape [n, in_channels, h, w]
            The images.
        training : bool, default False
            Remember x (padded) for the backward pass.

        Returns
        -------
        ndarray of shape [n, out_channels, oh, ow]
            z, NCHW: a view of channels-last memory.
        """
        # z = conv(x, W) + b: [n, c, h, w] -> [n, out, oh, ow]. Computed channels last: the
        # product's rows are the output in that layout, and x's [n, h, w, c] view is free when x
        # came from a convolution (its memory is channels last). Images in channels-first memory
        # (the network's input) are read as they are, into channel-major columns whose row of
        # ones adds b inside the product.
        n = x.shape[0]
        _, oh, ow, _ = _spatial("Conv2D", x.shape[1:], self.kernel_size, self.stride, self.padding)
        x_padded = _pad_as_stored(x, self.padding)  # [n, c, hp, wp], memory in x's order
        channel_major = _channels_first(x_padded)
        w = self._weight_matrix(channel_major)  # [out, K]
        z = np.empty((n, oh, ow, self.out_channels), dtype=x.dtype)
        # a training pass keeps the batch's columns for the backward pass when they are few (a
        # first layer's, of one channel); else one chunk's buffer, and the backward makes them again
        keep = training and n * oh * ow * w.shape[1] <= kernels.KEPT_COLUMNS
        step = n if keep else self._chunks(n, oh * ow, channel_major)
        buffer = np.empty(step * oh * ow * w.shape[1], dtype=x.dtype)
        for start in range(0, n, step):
            stop = min(start + step, n)
            cols = self._columns(x_padded[start:stop], buffer)  # [m oh ow, K]
            # [m oh ow, K] @ [K, out] -> [m oh ow, out]
            np.matmul(cols, w.T, out=z[start:stop].reshape(-1, self.out_channels))
        if training:
            self._x, self._kept_cols = x_padded, cols if keep else None
        if not channel_major:
            z += self.bias
        return z.transpose(0, 3, 1, 2)  # NCHW, a view of the channels-last memory

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True, x: np.ndarray | None = None):
        """Write dL/dW = delta^T cols and dL/db = the sum of delta over n, oh, ow into the gradients.

        Chunk by chunk of examples, while the chunk's columns are in the cache: the columns are
        made again (cheaper than keeping a batch's, many times the input) and multiplied into
        dL/dW (and dL/db, for channel-major columns, by their row of ones); dL/dx is, at stride 1,
        the convolution of delta (padded by kernel - 1 - padding) with the flipped kernel, channels
        swapped: im2col of delta and one product, into dL/dx directly; at other strides, delta W
        added back into the input (col2im).

        Parameters
        ----------
        grad_out : ndarray of shape [n, out_channels, oh, ow]
            delta = dL/dz.
        need_input_grad : bool, default True
            Compute and return dL/dx.
        x : ndarray of shape [n, in_channels, h, w], optional
            The input; defaults to the input of the last training forward pass.

        Returns
        -------
        ndarray of shape [n, in_channels, h, w] or None
            dL/dx, or None without ``need_input_grad``.
        """
        x_padded = self._remembered(self._x) if x is None else _pad_as_stored(x, self.padding)  # [n, c, hp, wp]
        kept = self._kept_cols if x is None else None  # [n oh ow, K], or made again below
        channel_major = _channels_first(x_padded)
        n, out, oh, ow = grad_out.shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        _, c, hp, wp = x_padded.shape
        h, width = hp - 2 * ph, wp - 2 * pw
        k = self._column_count(channel_major)
        delta = np.ascontiguousarray(grad_out.transpose(0, 2, 3, 1))  # [n, oh, ow, out]
        if not channel_major:  # dL/db = sum over examples and positions of delta
            kernels.sum_rows(delta.reshape(-1, out), out=self.grad_bias)
        transposed = need_input_grad and self._transposed()
        if transposed:
            # W flipped in both spatial axes, in and out channels swapped: [c, kh kw out]
            w_flipped = self.weight[:, :, ::-1, ::-1].transpose(1, 2, 3, 0).reshape(c, -1)
            grad_x = np.empty((n, h, width, c), dtype=x_padded.dtype)
        elif need_input_grad:
            w = self._weight_matrix()  # [out, kh kw c]
            grad_padded = np.zeros((n, hp, wp, c), dtype=x_padded.dtype)
        # entries of one example's columns: x's patches, and delta's when dL/dx is a convolution
        per_example = max(oh * ow * k, h * width * kh * kw * out if transposed else 0)
        step = _examples_per_chunk(n, per_example)

        grad_w = np.zeros((k, out), dtype=x_padded.dtype)  # (dL/dW)^T: [K, out]
        product = np.empty_like(grad_w)
        buffer = np.empty(step * per_example, dtype=x_padded.dtype)
        if transposed:
            # delta with kernel - 1 - padding zeros around each map (the border stays zero)
            qh, qw = kh - 1 - ph, kw - 1 - pw
            delta_padded = np.zeros((step, oh + 2 * qh, ow + 2 * qw, out), dtype=delta.dtype)
        for start in range(0, n, step):
            stop = min(start + step, n)
            d = delta[start:stop].reshape(-1, out)  # [m oh ow, out]
            if kept is not None:
                cols = kept[start * oh * ow : stop * oh * ow]
            else:
                cols = self._columns(x_padded[start:stop], buffer)
            grad_w += np.matmul(cols.T, d, out=product)  # (dL/dW)^T = cols^T delta: [K, out]
            if transposed:
                # dL/dx = conv(delta padded, W flipped): [m h w, kh kw out] @ [kh kw out, c]
                m = stop - start
                delta_padded[:m, qh : qh + oh, qw : qw + ow] = delta[start:stop]
                d_cols = _im2col(delta_padded[:m], self.kernel_size, (1, 1), buffer)
                np.matmul(d_cols, w_flipped.T, out=grad_x[start:stop].reshape(-1, c))
            elif need_input_grad:
                # dL/dcols = delta W, then col2im: each patch's gradient added back where it came from
                d_cols = np.matmul(d, w, out=buffer[: d.shape[0] * w.shape[1]].reshape(d.shape[0], -1))
                patches = d_cols.reshape(stop - start, oh, ow, kh, kw, c).transpose(0, 5, 1, 2, 3, 4)
                _add_patches(grad_padded[start:stop].transpose(0, 3, 1, 2), patches, self.kernel_size, self.stride)
        if channel_major:  # rows (c, i, j), then the ones': dL/db
            self.grad_weight[...] = grad_w[:-1].T.reshape(out, c, kh, kw)
            self.grad_bias[...] = grad_w[-1]
        else:  # rows (i, j, c)
            self.grad_weight[...] = grad_w.T.reshape(out, kh, kw, c).transpose(0, 3, 1, 2)
        if not need_input_grad:
            return None
        if transposed:
            return grad_x.transpose(0, 3, 1, 2)
        return grad_padded[:, ph : ph + h, pw : pw + width].transpose(0, 3, 1, 2)

    def parameters(self) -> list[Parameter]:
        """``weight`` [out_channels, in_channels, kh, kw] (with weight decay) and ``bias``
        [out_channels] (without)."""
        return [
            Parameter("weight", self.weight, self.grad_weight, decay=True),
            Parameter("bias", self.bias, self.grad_bias, decay=False),
        ]

    def output_shape(self, input_shape):
        channels, oh, ow, _ = _spatial("Conv2D", input_shape, self.kernel_size, self.stride, self.padding)
        if channels != self.in_channels:
            raise SpecError(f"Conv2D has in_channels = {self.in_channels}, but its input has {channels} channels")
        return (self.out_channels, oh, ow)

    def multiply_adds(self, input_shape) -> int:
        """Multiply-adds per example of the forward product: oh ow out_channels in_channels kh kw.

        Parameters
        ----------
        input_shape : tuple of int
            One example's shape, (in_channels, h, w).

        Returns
        -------
        int
        """
        _, oh, ow = self.output_shape(input_shape)
        return oh * ow * self.weight.size

    def config(self) -> dict:
        return {
            "type": "Conv2D",
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "init": self.init,
        }

    @classmethod
    def from_config(cls, config, input_shape, streams, dtype):
        settings = dict(config)
        if input_shape is not None:
            if len(input_shape) != 3:
                raise SpecError(
                    f"Conv2D takes images [n, channels, height, width], got examples of shape "
                    f"{_shape(input_shape)} (give the data's image shape, e.g. (1, 28, 28))"
                )
            settings.setdefault("in_channels", input_shape[0])
            if settings["in_channels"] != input_shape[0]:
                raise SpecError(
                    f"Conv2D has in_channels = {settings['in_channels']}, but its input has {input_shape[0]} channels"
                )
        return cls(rng=streams.weights, dtype=dtype, **settings)


class _Pool(Layer):
    """What max and average pooling share: kernel, stride (the kernel by default), padding, shapes."""

    kind = "pool"

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride if stride is not None else self.kernel_size)
        self.padding = _pair("padding", padding)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(
                f"padding {list(self.padding)} must be at most half the kernel {list(self.kernel_size)} (as in PyTorch)"
            )
        self._x_shape: tuple | None = None

    def output_shape(self, input_shape):
        channels, oh, ow, _ = _spatial(type(self).__name__, input_shape, self.kernel_size, self.stride, self.padding)
        return (channels, oh, ow)

    def config(self) -> dict:
        return {
            "type": type(self).__name__,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
        }

    def _tiled(self, shape) -> bool:
        """Whether the windows on inputs of ``shape`` [n, c, h, w] tile them: stride = kernel, no
        padding, sizes that divide."""
        (kh, kw), h, w = self.kernel_size, shape[2], shape[3]
        return self.stride == self.kernel_size and not any(self.padding) and not (h % kh or w % kw)

    def _tiles(self, x: np.ndarray) -> np.ndarray | None:
        """x [n, c, h, w] as non-overlapping tiles [n, c, oh, kh, ow, kw] (a view), when the pooling
        is that simple (``_tiled``); else None."""
        if not self._tiled(x.shape):
            return None
        (kh, kw), (n, c, h, w) = self.kernel_size, x.shape
        return x.reshape(n, c, h // kh, kh, w // kw, kw)


class MaxPool2D(_Pool):
    """Max pooling: each output is the largest input of its kh x kw window (padding counts as -inf).
    The gradient goes to that input alone (the first of equal ones, as PyTorch does).

    Parameters
    ----------
    kernel_size : int or pair of int
        (kh, kw); one number for a square window.
    stride : int or pair of int, optional
        The window's step; by default the kernel.
    padding : int or pair of int, default 0
        Added on each side, at most half the kernel (as in PyTorch).
    """

    # what the last training forward pass kept (with _x_shape): the index of each window's max
    # [n, c, oh, ow], among the kh kw offsets (uint8 below 256 of them) when the windows tile the
    # input, else within the window
    _winner: np.ndarray | None
    remembered = ("_x_shape", "_winner")

    def _offsets(self, x: np.ndarray):
        """For non-overlapping windows (stride = kernel, no padding, sizes that divide): the views
        of x [n, c, h, w] holding the (i, j)-th value of every window, [n, c, oh, ow] each. They are
        taken in x's memory order (channels last after a convolution), which keeps them fast."""
        if not self._tiled(x.shape):
            return None
        kh, kw = self.kernel_size
        x_nhwc = x.transpose(0, 2, 3, 1)
        if x_nhwc.flags.c_contiguous:
            return [x_nhwc[:, i::kh, j::kw].transpose(0, 3, 1, 2) for i in range(kh) for j in range(kw)]
        return [x[:, :, i::kh, j::kw] for i in range(kh) for j in range(kw)]

    @staticmethod
    def _like(view: np.ndarray, dtype=None) -> np.ndarray:
        """An empty array of ``view``'s shape in its memory order (channels last or first)."""
        dtype = view.dtype if dtype is None else dtype
        if view.transpose(0, 2, 3, 1).strides[-1] == view.itemsize or view.strides[1] < view.strides[3]:
            return np.empty((view.shape[0], *view.shape[2:], view.shape[1]), dtype).transpose(0, 3, 1, 2)
        return np.empty(view.shape, dtype)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The maximum of each window.

        Parameters
        ----------
        x : ndarray of shape [n, c, h, w]
            The images.
        training : bool, default False
            Remember where the maxima are for the backward pass.

        Returns
        -------
        ndarray of shape [n, c, oh, ow]
        """
        # [n, c, h, w] -> [n, c, oh, ow]
        views = self._offsets(x)
        if views is not None:  # a running max over the kh kw positions of the windows
            best = self._like(views[0])
            np.copyto(best, views[0])
            winner = None
            if training and len(views) < 256:
                # the offset of the max: the last k whose value beats all before it (so the first
                # of equal ones wins), i.e. the largest k * [view_k > max of views before k]
                winner, offset, beats = self._like(best, np.uint8), self._like(best, np.uint8), self._like(best, bool)
                winner[...] = 0
            for k, view in enumerate(views[1:], start=1):
                if winner is not None:
                    np.greater(view, best, out=beats)
                    np.multiply(beats, np.uint8(k), out=offset)
                    np.maximum(winner, offset, out=winner)
                np.maximum(best, view, out=best)
            if training and winner is None:
                winner = np.argmax(np.stack(views, axis=-1), axis=-1)  # no uint8 for so many offsets
        else:
            windows = _windows(x, self.kernel_size, self.stride, self.padding, fill=-np.inf)
            flat = windows.reshape(*windows.shape[:4], -1)
            winner = flat.argmax(axis=-1)  # index of the max within each window
            best = np.take_along_axis(flat, winner[..., None], axis=-1)[..., 0]
        if training:
            self._x_shape, self._winner = x.shape, winner
        return best

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        """dL/dx = dL/dz at the position of each window's max, 0 elsewhere.

        Parameters
        ----------
        grad_out : ndarray of shape [n, c, oh, ow]
            dL/dz.
        need_input_grad : bool, default True
            Unused: dL/dx is always returned.

        Returns
        -------
        ndarray of shape [n, c, h, w]
            dL/dx.
        """
        # dL/dx = dL/dz at the position of each window's max, 0 elsewhere
        shape = self._remembered(self._x_shape)
        kh, kw = self.kernel_size
        winner = self._winner
        assert winner is not None  # kept with _x_shape by the training forward pass
        if self._tiled(shape):  # non-overlapping windows: dL/dz to the offset of each max
            n, c, h, w = shape
            offsets = np.arange(kh * kw, dtype=winner.dtype)
            # the input as tiles [n, oh, kh, ow, kw, c] (channels last, as the forward pass's input
            # after a convolution) or [n, c, oh, kh, ow, kw]: one broadcast comparison and product
            # in the input's memory order, dL/dz at each tile's winning offset, 0 elsewhere
            if winner.transpose(0, 2, 3, 1).flags.c_contiguous:
                at_max = np.equal(
                    winner.transpose(0, 2, 3, 1)[:, :, None, :, None, :], offsets.reshape(1, 1, kh, 1, kw, 1)
                )
                grad = np.multiply(grad_out.transpose(0, 2, 3, 1)[:, :, None, :, None, :], at_max)
                return grad.reshape(n, h, w, c).transpose(0, 3, 1, 2)
            at_max = np.equal(winner[:, :, :, None, :, None], offsets.reshape(1, 1, 1, kh, 1, kw))
            return np.multiply(grad_out[:, :, :, None, :, None], at_max).reshape(n, c, h, w)
        grad_windows = np.zeros((*grad_out.shape, kh * kw), dtype=grad_out.dtype)
        np.put_along_axis(grad_windows, winner[..., None].astype(np.intp), grad_out[..., None], axis=-1)
        grad_windows = grad_windows.reshape(*grad_out.shape, kh, kw)
        return _add_windows(grad_windows, shape, self.kernel_size, self.stride, self.padding)


class AvgPool2D(_Pool):
    """Average pooling: each output is the mean of its kh x kw window (zero padding counted, as
    PyTorch's default count_include_pad=True).

    Parameters
    ----------
    kernel_size : int or pair of int
        (kh, kw); one number for a square window.
    stride : int or pair of int, optional
        The window's step; by default the kernel.
    padding : int or pair of int, default 0
        Added on each side, at most half the kernel (as in PyTorch).
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The mean of each window.

        Parameters
        ----------
        x : ndarray of shape [n, c, h, w]
            The images.
        training : bool, default False
            Remember x's shape for the backward pass.

        Returns
        -------
        ndarray of shape [n, c, oh, ow]
        """
        # [n, c, h, w] -> [n, c, oh, ow]
        if training:
            self._x_shape = x.shape
        tiles = self._tiles(x)
        if tiles is not None:
            return tiles.mean(axis=(3, 5))
        return _windows(x, self.kernel_size, self.stride, self.padding).mean(axis=(4, 5))

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        """dL/dx: each window's dL/dz / (kh kw), added back to every input of the window.

        Parameters
        ----------
        grad_out : ndarray of shape [n, c, oh, ow]
            dL/dz.
        need_input_grad : bool, default True
            Unused: dL/dx is always returned.

        Returns
        -------
        ndarray of shape [n, c, h, w]
            dL/dx.
        """
        # dL/dx = the mean of dL/dz of every window the input is in: dL/dz / (kh kw), spread back
        shape = self._remembered(self._x_shape)
        kh, kw = self.kernel_size
        share = grad_out / (kh * kw)
        grad_windows = np.broadcast_to(share[..., None, None], (*grad_out.shape, kh, kw))
        return _add_windows(grad_windows, shape, self.kernel_size, self.stride, self.padding)


class Flatten(Layer):
    """[n, d1, d2, ...] -> [n, d1 d2 ...] (C-order, as torch.flatten(x, 1)); backward reshapes back."""

    def __init__(self):
        self._x_shape: tuple | None = None

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x as rows.

        Parameters
        ----------
        x : ndarray of shape [n, d1, d2, ...]
            The batch.
        training : bool, default False
            Remember x's shape for the backward pass.

        Returns
        -------
        ndarray of shape [n, d1 d2 ...]
        """
        if training:
            self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True):
        """The gradient in the input's shape.

        Parameters
        ----------
        grad_out : ndarray of shape [n, d1 d2 ...]
            dL/d(output).
        need_input_grad : bool, default True
            Unused: dL/dx is always returned.

        Returns
        -------
        ndarray of shape [n, d1, d2, ...]
            dL/dx.
        """
        return grad_out.reshape(self._remembered(self._x_shape))

    def output_shape(self, input_shape):
        return (math.prod(_shape(input_shape)),)
