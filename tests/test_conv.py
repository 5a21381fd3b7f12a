"""Convolutional layers and batch normalisation: values by hand, gradients by finite differences,
shapes and errors, and (where PyTorch is installed) the same numbers as PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from neuralnet.engine.conv import AvgPool2D, Conv2D, Flatten, MaxPool2D
from neuralnet.engine.gradcheck import check_network_gradients, numerical_gradient, relative_error
from neuralnet.engine.layers import RandomShift, SpecError
from neuralnet.engine.network import build_network
from neuralnet.engine.normalization import BatchNorm
from neuralnet.engine.specs import describe_spec, normalize_spec, parse_layers
from neuralnet.training.data import one_hot

TOLERANCE = 1e-6


def test_a_small_convolution_by_hand():
    """One 3x3 filter on a 5x5 input, no padding, stride 1: each output is the sum of the
    filter times the patch under it, plus the bias (written out here, not computed by the layer)."""
    x = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    conv = Conv2D(1, 1, 3, dtype=np.float64)
    conv.weight[...] = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)  # a Sobel filter
    conv.bias[...] = 0.5
    z = conv.forward(x)
    # every patch of this ramp x[i, j] = 5 i + j has the same horizontal slope: the Sobel filter
    # gives (1 + 2 + 1) * (x[., j] - x[., j + 2]) = 4 * (-2) = -8 everywhere
    np.testing.assert_array_equal(z, np.full((1, 1, 3, 3), -8.0 + 0.5))
    x2 = np.zeros((1, 1, 5, 5))
    x2[0, 0, 2, 2] = 1.0  # one pixel: the output is the filter, flipped (cross-correlation)
    np.testing.assert_array_equal(conv.forward(x2)[0, 0] - 0.5, conv.weight[0, 0, ::-1, ::-1])


def test_convolution_shapes_stride_and_padding():
    conv = Conv2D(3, 4, (3, 5), stride=2, padding=(1, 2))
    assert conv.weight.shape == (4, 3, 3, 5) and conv.bias.shape == (4,)
    assert conv.output_shape((3, 9, 11)) == (4, 5, 6)  # (9 + 2 - 3) // 2 + 1, (11 + 4 - 5) // 2 + 1
    assert conv.forward(np.zeros((2, 3, 9, 11), np.float32)).shape == (2, 4, 5, 6)
    with pytest.raises(SpecError, match=r"kernel 7x7 \(padding 0x0\) is larger than its 5x5 input"):
        Conv2D(1, 1, 7).output_shape((1, 5, 5))
    with pytest.raises(SpecError, match=r"in_channels = 3, but its input has 1 channels"):
        conv.output_shape((1, 9, 11))
    with pytest.raises(SpecError, match=r"takes images \[n, channels, height, width\], got examples of shape \(784,\)"):
        conv.output_shape((784,))
    with pytest.raises(ValueError, match=r"kernel_size must be a positive integer .*got 0"):
        Conv2D(1, 1, 0)


def _layer_gradients(layer, x, rng):
    """Analytic dL/dx and dL/d(parameters) of L = sum(layer(x) * upstream) against finite differences."""
    upstream = rng.normal(size=layer.forward(x, training=True).shape)
    layer.forward(x, training=True)
    dx = layer.backward(upstream)
    errors = {
        "x": relative_error(
            dx, numerical_gradient(lambda: float(np.sum(layer.forward(x, training=True) * upstream)), x)
        )
    }
    analytic = {p.name: p.grad.copy() for p in layer.parameters() if p.trainable}
    for p in layer.parameters():
        if p.trainable:
            errors[p.name] = relative_error(
                analytic[p.name],
                numerical_gradient(lambda: float(np.sum(layer.forward(x, training=True) * upstream)), p.value),
            )
    return errors


@pytest.mark.parametrize(
    "kernel, stride, padding, shape",
    [
        (3, 1, 0, (2, 2, 6, 6)),
        (3, 1, 1, (2, 2, 5, 5)),
        (3, 2, 1, (2, 3, 7, 7)),
        ((2, 3), (2, 1), (0, 1), (1, 2, 6, 5)),
        (5, 1, 2, (2, 1, 6, 6)),
        (1, 1, 0, (2, 3, 4, 4)),
    ],
)
@pytest.mark.parametrize("memory", ["channels first", "channels last"])
def test_convolution_gradients(kernel, stride, padding, shape, memory):
    """Both ways the columns are made: channel-major from channels-first memory (a network's input
    images), channels-last rows otherwise (the maps a convolution makes)."""
    rng = np.random.RandomState(0)
    x = rng.normal(size=shape)
    if memory == "channels last":
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    layer = Conv2D(shape[1], 3, kernel, stride=stride, padding=padding, init="glorot", rng=1, dtype=np.float64)
    layer.bias[...] = rng.normal(size=3)
    errors = _layer_gradients(layer, x, rng)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("kernel, stride, padding", [(5, 1, 2), (3, 2, 1), ((2, 3), (1, 2), 0)])
def test_a_convolution_gives_the_same_numbers_from_either_memory_order(kernel, stride, padding):
    """The same images in channels-first memory (channel-major columns, b added by their row of
    ones) and in channels-last memory (channels-last columns, b added after the product): the same
    z, dL/dx, dL/dW and dL/db, to float64 rounding; and the layer reads both without a copy of x
    when there is no padding."""
    rng = np.random.RandomState(3)
    first = rng.normal(size=(4, 3, 9, 8))
    last = np.ascontiguousarray(first.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert first.flags.c_contiguous and not last.flags.c_contiguous
    layer = Conv2D(3, 5, kernel, stride=stride, padding=padding, rng=6, dtype=np.float64)
    layer.bias[...] = rng.normal(size=5)
    results = []
    for x in (first, last):
        z = layer.forward(x, training=True).copy()
        if not any(layer.padding):
            assert np.shares_memory(layer._x, x)
        upstream = np.random.RandomState(4).normal(size=z.shape)
        dx = layer.backward(upstream).copy()
        results.append((z, dx, layer.grad_weight.copy(), layer.grad_bias.copy()))
    for by_columns, by_rows in zip(*results):
        np.testing.assert_allclose(by_columns, by_rows, rtol=1e-12, atol=1e-12)
    # b is in the channel-major product: a ramp of biases shows in each output channel
    layer.weight[...] = 0.0
    layer.bias[...] = np.arange(5.0)
    np.testing.assert_array_equal(layer.forward(first)[:, :, 0, 0], np.tile(np.arange(5.0), (4, 1)))


def test_convolution_in_chunks_gives_the_same_numbers(monkeypatch):
    import neuralnet.engine.kernels as kernels

    rng = np.random.RandomState(1)
    x = rng.normal(size=(7, 2, 6, 6))
    layer = Conv2D(2, 4, 3, padding=1, rng=2, dtype=np.float64)
    whole = layer.forward(x, training=True).copy()
    upstream = rng.normal(size=whole.shape)
    dx_whole = layer.backward(upstream).copy()
    dw_whole = layer.grad_weight.copy()
    monkeypatch.setattr(kernels, "IM2COL_ELEMENTS", 2 * 36 * 18)  # two examples' columns at a time
    assert layer._chunks(7, 36) == 2
    np.testing.assert_allclose(layer.forward(x, training=True), whole, rtol=1e-12)
    np.testing.assert_allclose(layer.backward(upstream), dx_whole, rtol=1e-12)
    np.testing.assert_allclose(layer.grad_weight, dw_whole, rtol=1e-12)


@pytest.mark.parametrize(
    "pool, kernel, stride, padding, shape",
    [
        (MaxPool2D, 2, None, 0, (2, 3, 6, 6)),
        (MaxPool2D, 3, 2, 1, (2, 2, 7, 7)),
        (MaxPool2D, 2, 1, 0, (1, 2, 5, 5)),
        (AvgPool2D, 2, None, 0, (2, 3, 6, 6)),
        (AvgPool2D, 3, 2, 1, (2, 2, 7, 7)),
        (AvgPool2D, (2, 3), (1, 2), 0, (1, 1, 5, 7)),
    ],
)
def test_pooling_gradients(pool, kernel, stride, padding, shape):
    rng = np.random.RandomState(3)
    x = rng.normal(size=shape)  # no ties: each window has one max
    errors = _layer_gradients(pool(kernel, stride, padding), x, rng)
    assert errors["x"] < TOLERANCE, errors


def test_pooling_values_by_hand():
    x = np.array([[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0], [0.0, 0.0, 2.0, 8.0], [6.0, 1.0, 3.0, 4.0]]).reshape(
        1, 1, 4, 4
    )
    np.testing.assert_array_equal(MaxPool2D(2).forward(x)[0, 0], [[4.0, 5.0], [6.0, 8.0]])
    np.testing.assert_array_equal(AvgPool2D(2).forward(x)[0, 0], [[2.5, 1.75], [1.75, 4.25]])
    pool = MaxPool2D(2)
    pool.forward(x, training=True)
    grad = pool.backward(np.ones((1, 1, 2, 2)))[0, 0]
    np.testing.assert_array_equal(grad, [[0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"padding \[2, 2\] must be at most half the kernel \[3, 3\]"):
        MaxPool2D(3, padding=2)


def test_max_pooling_gives_a_tied_windows_gradient_to_its_first_max_in_either_memory_layout():
    """Windows whose inputs tie (a ReLU's zeros, say): the gradient goes to the first of the
    equal ones in row-major window order, as PyTorch does, whether the maps lie channels first
    or channels last (as a convolution's output does)."""
    x = np.array([[0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 2.0, 2.0], [3.0, 1.0, 5.0, 4.0], [0.0, 3.0, 4.0, 5.0]])
    expected = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], dtype=float)
    channels_first = np.stack([x, 2 * x]).reshape(1, 2, 4, 4)
    channels_last = np.ascontiguousarray(channels_first.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    for images in (channels_first, channels_last):
        pool = MaxPool2D(2)
        np.testing.assert_array_equal(pool.forward(images, training=True)[0, 0], [[0.0, 2.0], [3.0, 5.0]])
        upstream = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)
        grad = pool.backward(upstream)
        np.testing.assert_array_equal(grad[0, 0], expected * np.repeat(np.repeat(upstream[0, 0], 2, 0), 2, 1))
        np.testing.assert_array_equal(grad[0, 1], expected * np.repeat(np.repeat(upstream[0, 1], 2, 0), 2, 1))


def test_max_pooling_with_more_than_255_offsets_per_window():
    """Windows of 17 x 17 = 289 inputs tiling the image (their winners do not fit one byte):
    each window's gradient goes to its largest input."""
    rng = np.random.RandomState(11)
    x = rng.normal(size=(2, 3, 34, 34))
    pool = MaxPool2D(17)
    z = pool.forward(x, training=True)
    upstream = rng.normal(size=z.shape)
    grad = pool.backward(upstream)
    tiles = x.reshape(2, 3, 2, 17, 2, 17).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 2, 289)
    np.testing.assert_array_equal(z, tiles.max(axis=-1))
    expected = np.zeros_like(tiles)
    np.put_along_axis(expected, tiles.argmax(axis=-1)[..., None], upstream[..., None], axis=-1)
    expected = expected.reshape(2, 3, 2, 2, 17, 17).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    np.testing.assert_array_equal(grad, expected)


def test_float32_convolutions_in_chunks_match_float64(monkeypatch):
    """The chunked float32 path a training uses (stride 1 and padding: dL/dx as a convolution of
    delta; no padding; stride 2: col2im), with columns made again in the backward pass, agrees
    with the same layer in float64, whole, its columns kept from the forward pass."""
    import neuralnet.engine.kernels as kernels

    rng = np.random.RandomState(5)
    for kernel, stride, padding in ((5, 1, 2), (3, 1, 0), (3, 2, 1)):
        x = rng.normal(size=(9, 3, 10, 10))
        exact = Conv2D(3, 5, kernel, stride=stride, padding=padding, rng=4, dtype=np.float64)
        fast = Conv2D(3, 5, kernel, stride=stride, padding=padding, rng=4)
        z = exact.forward(x, training=True)
        upstream = rng.normal(size=z.shape)
        dx = exact.backward(upstream)
        with monkeypatch.context() as patch:
            patch.setattr(kernels, "IM2COL_ELEMENTS", 2 * 100 * 75)  # a few examples at a time
            patch.setattr(kernels, "KEPT_COLUMNS", 0)  # the backward pass makes the columns again
            z32 = fast.forward(x.astype(np.float32), training=True)
            dx32 = fast.backward(upstream.astype(np.float32))
        assert z32.dtype == dx32.dtype == fast.grad_weight.dtype == np.float32
        np.testing.assert_allclose(z32, z, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dx32, dx, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(fast.grad_weight, exact.grad_weight, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(fast.grad_bias, exact.grad_bias, rtol=1e-4, atol=1e-3)


def test_flatten_is_torch_flatten():
    x = np.arange(24).reshape(2, 3, 2, 2)
    layer = Flatten()
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x.reshape(2, 12))
    assert layer.backward(y).shape == x.shape and layer.output_shape((3, 2, 2)) == (12,)


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 3, 3)])
def test_batch_norm_gradients(shape):
    rng = np.random.RandomState(4)
    x = rng.normal(size=shape) * 3 + 1
    layer = BatchNorm(shape[1], dtype=np.float64)
    layer.weight[...] = rng.uniform(0.5, 2, size=shape[1])
    layer.bias[...] = rng.normal(size=shape[1])
    errors = _layer_gradients(layer, x, rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_batch_norm_training_and_inference():
    rng = np.random.RandomState(5)
    layer = BatchNorm(3, momentum=0.25, dtype=np.float64)
    x = rng.normal(size=(10, 3, 2, 2)) * np.array([1, 2, 3]).reshape(1, 3, 1, 1) + 5
    y = layer.forward(x, training=True)
    # in training: each channel normalised by its batch mean and (biased) variance
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.running_mean, 0.25 * mean)  # from 0
    np.testing.assert_allclose(layer.running_var, 0.75 + 0.25 * var)  # from 1, the unbiased variance
    # at inference: the running statistics, and nothing changes
    before = layer.running_mean.copy()
    z = layer.forward(x)
    expected = (x - layer.running_mean.reshape(1, 3, 1, 1)) / np.sqrt(layer.running_var.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(z, expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, before)
    with pytest.raises(SpecError, match=r"BatchNorm\(3\) takes \[n, 3\] features or \[n, 3, h, w\] images"):
        layer.output_shape((4, 2, 2))


def test_running_statistics_travel_in_the_flat_buffer_and_no_optimizer_moves_them():
    from neuralnet.engine.optim import SGD, Adam

    network = build_network(
        parse_layers("conv2d(4, 3, padding=1), batchnorm, relu, flatten, dense(3)"),
        (1, 4, 4),
        "cross-entropy",
        "float64",
        seed=0,
    )
    bn = network.layers[1]
    assert np.shares_memory(bn.running_mean, network.flat_values)
    names = [name for name, _ in network.named_parameters()]
    assert "layers.1.running_mean" in names and "layers.1.running_var" in names
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(6, 1, 4, 4)), one_hot(np.arange(6) % 3, 3, np.float64)
    for optimizer in (
        SGD(network.flat_parameters(), lr=0.1, momentum=0.9, weight_decay=0.1),
        Adam(network.flat_parameters(), lr=0.1, weight_decay=0.1),
    ):
        network.loss_and_gradients(x, y)
        stats = bn.running_mean.copy(), bn.running_var.copy()
        optimizer.step()
        np.testing.assert_array_equal(bn.running_mean, stats[0])
        np.testing.assert_array_equal(bn.running_var, stats[1])


def test_every_new_layer_in_a_network_passes_the_gradient_check():
    # (no bias straight before a batch normalisation: the loss does not depend on it, its gradient is
    # zero and a relative error of two near-zero numbers means nothing)
    specs = parse_layers(
        "shift(1), conv2d(3, 3, padding=1), tanh, batchnorm, maxpool2d(2), conv(4, 2, stride=2), "
        "sigmoid, avgpool2d(1), flatten, dense(5), relu, batchnorm, dense(3)"
    )
    network = build_network(specs, (2, 6, 6), "cross-entropy", "float64", seed=2)
    network.layers[0].fixed_offsets = np.array([[1, 0], [0, -1], [-1, 1], [0, 0]])
    rng = np.random.RandomState(2)
    X, Y = rng.normal(size=(4, 2, 6, 6)), one_hot(np.array([0, 1, 2, 1]), 3, np.float64)
    errors = check_network_gradients(network, X, Y)
    assert max(errors.values()) < 1e-5, errors


def test_random_shift_moves_image_stacks_and_its_backward_is_the_adjoint():
    rng = np.random.RandomState(6)
    x = rng.normal(size=(3, 2, 5, 5))
    layer = RandomShift(2, rng=0, fill=0.0)
    layer.fixed_offsets = np.array([[1, 2], [-2, 0], [0, -1]])
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y[0, :, 1:, 2:], x[0, :, :-1, :-2])  # down 1, right 2
    np.testing.assert_array_equal(y[0, :, 0, :], 0.0)
    np.testing.assert_array_equal(y[1, :, :-2, :], x[1, :, 2:, :])  # up 2
    upstream = rng.normal(size=y.shape)
    # <shift(x), u> == <x, shift^T(u)>
    assert np.isclose(np.sum(y * upstream), np.sum(x * layer.backward(upstream)))


def test_specs_are_read_in_every_spelling():
    assert normalize_spec({"type": "conv", "filters": 8, "kernel": 3}) == {
        "type": "Conv2D",
        "out_channels": 8,
        "kernel_size": 3,
    }
    assert normalize_spec({"type": "dense", "units": 10}) == {"type": "Dense", "n_out": 10}
    assert normalize_spec("relu") == {"type": "Activation", "name": "relu"}
    assert normalize_spec({"type": "Leaky-ReLU"}) == {"type": "Activation", "name": "leaky_relu"}
    assert parse_layers("dropout(0.25), maxpool2d(3, stride=2)") == [
        {"type": "Dropout", "p": 0.25},
        {"type": "MaxPool2D", "kernel_size": 3, "stride": 2},
    ]
    with pytest.raises(SpecError, match="unknown layer type 'conv3d'"):
        parse_layers("conv3d(8)")
    with pytest.raises(SpecError, match=r"gives 5 arguments by position, but Conv2D takes 4"):
        parse_layers("conv2d(8, 3, 1, 1, 1)")
    with pytest.raises(SpecError, match="cannot read the arguments"):
        parse_layers("dense(10,,)")
    built = build_network(parse_layers("conv2d(8, 5, padding=2), relu, maxpool2d(2), flatten, dense(10)"), (1, 28, 28))
    assert [describe_spec(spec) for spec in built.specs()] == [
        "Conv2D(1 -> 8, 5x5, padding 2)",
        "relu",
        "MaxPool2D(2)",
        "Flatten",
        "Dense(1568 -> 10)",
    ]


def test_shapes_that_do_not_fit_are_named_at_build_time():
    with pytest.raises(
        SpecError,
        match=r"layer 3 of the stack \(examples of shape \(8, 14, 14\) from layer 2\): "
        r"Dense takes flat inputs .*put a Flatten layer before it",
    ):
        build_network(parse_layers("conv2d(8, 3, padding=1), relu, maxpool2d(2), dense(10)"), (1, 28, 28))
    with pytest.raises(SpecError, match=r"layer 2 .*kernel 9x9 .*larger than its 7x7 input"):
        build_network(parse_layers("conv2d(8, 3), maxpool2d(2), conv2d(4, 9)"), (1, 16, 16))


@pytest.fixture(scope="module")
def torch_module():
    return pytest.importorskip("torch")


def test_conv_and_pools_give_pytorchs_numbers(torch_module):
    torch = torch_module
    rng = np.random.RandomState(7)
    x = rng.normal(size=(3, 2, 9, 9)).astype(np.float64)
    conv = Conv2D(2, 4, 3, stride=2, padding=1, rng=3, dtype=np.float64)
    conv.bias[...] = rng.normal(size=4)
    reference = torch.nn.Conv2d(2, 4, 3, stride=2, padding=1).double()
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(conv.weight))
        reference.bias.copy_(torch.from_numpy(conv.bias))
    tx = torch.from_numpy(x).requires_grad_(True)
    out = reference(tx)
    upstream = rng.normal(size=tuple(out.shape))
    out.backward(torch.from_numpy(upstream))
    ours = conv.forward(x, training=True)
    np.testing.assert_allclose(ours, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.backward(upstream), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(conv.grad_weight, reference.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    pools = ((MaxPool2D(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)), (AvgPool2D(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)))
    for ours, theirs in pools:
        np.testing.assert_allclose(ours.forward(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-12)


def test_batch_norm_gives_pytorchs_numbers(torch_module):
    torch = torch_module
    rng = np.random.RandomState(8)
    x = rng.normal(size=(6, 3, 4, 4)) * 2 + 1
    ours, theirs = BatchNorm(3, momentum=0.2, dtype=np.float64), torch.nn.BatchNorm2d(3, momentum=0.2).double()
    for _ in range(3):
        np.testing.assert_allclose(
            ours.forward(x, training=True), theirs.train()(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12
        )
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.forward(x), theirs.eval()(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_a_training_step_frees_each_layers_maps_as_the_gradient_passes_them():
    """What a training forward pass keeps for backward (the maps, a convolution's columns, the
    pools' winners, batch norm's normalised input) is let go once each layer's backward has used
    it: the batch's maps are not held while the next batch's are made, nor between epochs."""
    network = build_network(
        parse_layers("conv2d(4, 3, padding=1), batchnorm, relu, maxpool2d(2), flatten, dense(3)"),
        (1, 6, 6),
        "cross-entropy",
        "float64",
        seed=0,
    )
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(5, 1, 6, 6)), one_hot(np.arange(5) % 3, 3, np.float64)
    network.forward(x, training=True)
    kept = {(index, name) for index, layer in enumerate(network.layers) for name in layer.remembered}
    assert {(0, "_x"), (0, "_kept_cols"), (1, "_cache"), (2, "_a"), (3, "_winner"), (5, "_x")} <= kept
    assert all(getattr(network.layers[index], name) is not None for index, name in kept - {(0, "_kept_cols")})
    network.backward(network.loss.gradient(network.forward(x, training=True), y))
    assert all(getattr(network.layers[index], name) is None for index, name in kept)
    with pytest.raises(RuntimeError, match="Dense.backward called before a forward pass in training mode"):
        network.backward(np.ones((5, 3)))
    # the gradients are those of a network that keeps everything (one layer at a time, by hand)
    grads = network.flat_grads.copy()
    upstream = network.loss.gradient(network.forward(x, training=True), y)
    for index in reversed(network.execution_order):
        upstream = network.layers[index].backward(upstream)
    np.testing.assert_array_equal(network.flat_grads, grads)


def test_a_relu_before_a_max_pool_runs_after_it_with_the_same_numbers():
    """max(relu(x)) = relu(max(x)) over each window, and the gradient goes to the same input: the
    network runs such a ReLU after the pool (on a quarter of the values, for a 2 x 2 pool) and gets
    the loss and gradients of the stack's order, bit for bit, ties and all-negative windows
    included. Not when no layer with parameters follows (the ReLU's backward then would overwrite
    the caller's gradient), nor for other activations."""
    specs = parse_layers(
        "conv2d(4, 3, padding=1), relu, maxpool2d(2), conv2d(3, 3, padding=1), relu, maxpool2d(3, stride=1, "
        "padding=1), relu, flatten, dense(3)"
    )
    network = build_network(specs, (1, 8, 8), "cross-entropy", "float32", seed=1)
    assert network.execution_order == [0, 2, 1, 3, 5, 4, 6, 7, 8]
    rng = np.random.RandomState(7)
    # few distinct pixel values: many equal maxima; the weights' signs give all-negative windows
    x = rng.randint(-2, 3, size=(6, 1, 8, 8)).astype(np.float32)
    y = one_hot(np.arange(6) % 3, 3, np.float32)
    loss = network.loss_and_gradients(x, y)
    grads = network.flat_grads.copy()
    output = network.forward(x)
    negative = network.layers[1].forward(network.layers[0].forward(x)) == 0
    assert 0.2 < negative.mean() < 0.8  # the ReLU's zeros are many (ties within windows among them)

    # the stack's order, one layer at a time by hand
    a = x
    for layer in network.layers:
        a = layer.forward(a, training=True)
    value, upstream = network.loss.value_and_gradient(a, y)
    for index in range(len(network.layers) - 1, -1, -1):
        upstream = network.layers[index].backward(upstream, need_input_grad=index > 0)
    assert value == loss
    np.testing.assert_array_equal(network.flat_grads, grads)
    np.testing.assert_array_equal(network.predict_output(x), output)

    kept = build_network(parse_layers("conv2d(2, 3), relu, maxpool2d(2), flatten"), (1, 6, 6), "mse")
    assert kept.execution_order == [0, 1, 2, 3]
    other = build_network(parse_layers("conv2d(2, 3), tanh, maxpool2d(2), flatten, dense(2)"), (1, 6, 6), "mse")
    assert other.execution_order == [0, 1, 2, 3, 4]
