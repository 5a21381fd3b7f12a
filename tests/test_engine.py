"""The engine's pieces: activations, losses, optimizers, schedules, network, trainer."""

from __future__ import annotations

import math
import platform
import sys
import warnings

import numpy as np
import pytest
from helpers import MLP, build_mlp

from neuralnet.engine.activations import ACTIVATIONS, get_activation, sigmoid, softmax
from neuralnet.engine.layers import Dense, Dropout
from neuralnet.engine.losses import MeanSquaredError, SoftmaxCrossEntropy, get_loss
from neuralnet.engine.optim import SGD, Adam
from neuralnet.engine.schedules import get_schedule
from neuralnet.training import EarlyStopping, Trainer, TrainingDiverged, evaluate, one_hot

# --- activations -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_extremes(dtype):
    z = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        a = sigmoid(z)
    assert a.dtype == dtype
    assert np.all(np.isfinite(a))
    assert a[0] == 0.0
    assert a[-1] == 1.0
    assert a[3] == 0.5
    np.testing.assert_allclose(a[2], 1 / (1 + np.exp(20.0)), rtol=1e-5)


def test_sigmoid_matches_the_chapter_formula_in_the_normal_range():
    z = np.linspace(-30, 30, 1001)
    np.testing.assert_array_equal(sigmoid(z), 1.0 / (1.0 + np.exp(-z)))


def test_activation_values():
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    out = lambda name: get_activation(name).forward(z, np.empty_like(z))  # noqa: E731
    np.testing.assert_allclose(out("tanh"), np.tanh(z))
    np.testing.assert_array_equal(out("relu"), [[0, 0, 0, 0.5, 2.0]])
    np.testing.assert_allclose(out("leaky_relu"), [[-0.02, -0.005, 0, 0.5, 2.0]])
    np.testing.assert_array_equal(out("identity"), z)
    np.testing.assert_allclose(out("softmax").sum(), 1.0)
    assert get_activation("Leaky-ReLU").name == "leaky_relu"
    assert get_activation("logistic").name == "sigmoid"
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        get_activation("swish")


def test_softmax_handles_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(z)
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_activation_kernels_work_in_place():
    for name, fn in ACTIVATIONS.items():
        z = np.random.RandomState(0).normal(size=(3, 4))
        expected = fn.forward(z, np.empty_like(z))
        fn.forward(z, z)
        np.testing.assert_array_equal(z, expected, err_msg=name)


# --- losses ------------------------------------------------------------------------------


def test_mse_value_and_its_relation_to_the_chapters_reported_mse():
    output = np.array([[0.2, 0.8], [0.6, 0.4]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    loss = MeanSquaredError()
    # L = (1/n) sum_i sum_k (a - y)^2 = ((0.04 + 0.04) + (0.16 + 0.16)) / 2
    assert loss.value(output, Y) == pytest.approx(0.2)
    # the chapter's mse_loss is the mean over every entry: L / k
    assert np.mean((output - Y) ** 2) == pytest.approx(loss.value(output, Y) / 2)


def test_cross_entropy_value_and_stability():
    loss = SoftmaxCrossEntropy()
    logits = np.array([[2.0, 1.0, 0.1]])
    Y = np.array([[1.0, 0.0, 0.0]])
    expected = -np.log(np.exp(2.0) / np.exp([2.0, 1.0, 0.1]).sum())
    assert loss.value(logits, Y) == pytest.approx(expected)
    huge = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = loss.value(huge, np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32))
        grad = loss.gradient(huge, np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32))
    assert value == pytest.approx(1e4)  # first row: 0, second row: 2e4, mean 1e4
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0, 0], [-0.5, 0.5]], atol=1e-6)


def test_get_loss_names():
    assert get_loss("ce").name == "cross-entropy"
    assert get_loss("squared_error").name == "mse"
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        get_loss("hinge")


# --- optimizers and schedules ----------------------------------------------------------


def _param(value, grad):
    layer = Dense(1, len(value), dtype=np.float64)
    layer.weight[:, 0] = value
    layer.grad_weight[:, 0] = grad
    return layer.parameters()[0], layer


def test_sgd_is_the_chapters_update():
    p, layer = _param([1.0, -2.0], [0.5, 0.25])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(layer.weight[:, 0], [1.0 - 0.05, -2.0 - 0.025])


def test_sgd_momentum_and_nesterov():
    for nesterov, expected_second in ((False, 1.0 - 0.1 - 0.1 * 1.9), (True, None)):
        p, layer = _param([1.0], [1.0])
        opt = SGD([p], lr=0.1, momentum=0.9, nesterov=nesterov)
        opt.step()  # v = 1
        first = layer.weight[0, 0]
        opt.step()  # v = 1.9
        if nesterov:
            assert first == pytest.approx(1.0 - 0.1 * (1 + 0.9 * 1))
            assert layer.weight[0, 0] == pytest.approx(first - 0.1 * (1 + 0.9 * 1.9))
        else:
            assert first == pytest.approx(0.9)
            assert layer.weight[0, 0] == pytest.approx(expected_second)


def test_weight_decay_adds_lambda_w_to_weights_only():
    layer = Dense(2, 2, dtype=np.float64)
    layer.weight[:] = 1.0
    layer.bias[:] = 1.0
    layer.grad_weight[:] = 0.0
    layer.grad_bias[:] = 0.0
    SGD(layer.parameters(), lr=0.5, weight_decay=0.1).step()
    np.testing.assert_allclose(layer.weight, 1.0 - 0.5 * 0.1)
    np.testing.assert_allclose(layer.bias, 1.0)


def test_adam_matches_the_textbook_formula():
    rng = np.random.RandomState(0)
    grads = rng.normal(size=(5, 3))
    p, layer = _param([0.5, -0.5, 1.0], grads[0])
    opt = Adam([p], lr=0.01)
    w = np.array([0.5, -0.5, 1.0])
    m = np.zeros(3)
    v = np.zeros(3)
    for t, g in enumerate(grads, start=1):
        layer.grad_weight[:, 0] = g
        opt.step()
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        w = w - 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(layer.weight[:, 0], w, rtol=1e-6)


@pytest.mark.parametrize(
    "bad", [dict(lr=-0.1), dict(lr=0.0), dict(lr=float("nan")), dict(momentum=1.0), dict(weight_decay=-1.0)]
)
def test_optimizer_rejects_bad_hyper_parameters(bad):
    p, _ = _param([1.0], [1.0])
    key = next(iter(bad))
    with pytest.raises(ValueError, match=key if key != "lr" else "learning rate"):
        SGD([p], **{"lr": 0.1, **bad})


def test_schedules():
    assert get_schedule("constant")(0.1, 7, 10) == 0.1
    assert get_schedule("step")(0.1, 9, 30) == pytest.approx(0.1)
    assert get_schedule("step")(0.1, 10, 30) == pytest.approx(0.01)
    assert get_schedule("exponential", gamma=0.5)(0.1, 3, 10) == pytest.approx(0.0125)
    cosine = get_schedule("cosine")
    assert cosine(0.1, 0, 10) == pytest.approx(0.1)
    assert cosine(0.1, 5, 10) == pytest.approx(0.05)
    assert cosine(0.1, 9, 10) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'linear'"):
        get_schedule("linear")


# --- layers and network -----------------------------------------------------------------


def test_initializers_have_the_right_scale():
    n_in, n_out = 400, 300
    assert Dense(n_in, n_out, init="normal", rng=0).weight.std() == pytest.approx(0.1, rel=0.02)
    glorot = Dense(n_in, n_out, init="glorot", rng=0).weight
    assert np.abs(glorot).max() <= np.sqrt(6 / (n_in + n_out))
    assert glorot.std() == pytest.approx(np.sqrt(2 / (n_in + n_out)), rel=0.03)
    assert Dense(n_in, n_out, init="he", rng=0).weight.std() == pytest.approx(np.sqrt(2 / n_in), rel=0.03)
    with pytest.raises(ValueError, match="unknown initializer 'zeros'"):
        Dense(2, 2, init="zeros")


def test_dropout_is_inverted_and_off_at_inference():
    layer = Dropout(0.25, rng=0)
    x = np.ones((2000, 50), dtype=np.float32)
    y = layer.forward(x, training=True)
    assert y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert (y == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    assert layer.forward(x, training=False) is x
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\), got 1.0"):
        Dropout(1.0)


def test_network_keeps_float32_without_upcasting():
    network = build_mlp(MLP(784, [32, 16], 10, activation="relu", loss="cross-entropy", dropout=0.1, init="he"))
    X = np.random.RandomState(0).normal(size=(64, 784))  # float64 input is converted once
    out = network.forward(network.as_input(X), training=True)
    assert out.dtype == np.float32
    network.backward(network.loss.gradient(out, one_hot(np.arange(64) % 10, 10)))
    assert all(p.value.dtype == np.float32 and p.grad.dtype == np.float32 for p in network.parameters())


def test_network_rejects_wrong_inputs():
    network = build_mlp(MLP(784, [8], 10))
    with pytest.raises(ValueError, match="X has 783 features, but the network expects 784"):
        network.predict(np.zeros((2, 783)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        network.predict(np.zeros(784))
    with pytest.raises(ValueError, match="output_activation must be 'identity'"):
        build_mlp(MLP(4, [3], 2, loss="cross-entropy", output_activation="softmax"))
    with pytest.raises(
        ValueError, match=r"layer 0 of the stack .*: Dense layer .*n_out must be a positive integer, got 0"
    ):
        build_mlp(MLP(4, [0], 2))


def test_state_dict_round_trip_and_errors():
    a = build_mlp(MLP(6, [5], 3), random_seed=1)
    b = build_mlp(MLP(6, [5], 3), random_seed=2)
    b.load_state_dict(a.state_dict())
    x = np.random.RandomState(0).normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    state = a.state_dict()
    state["layers.0.weight"] = np.zeros((5, 7))
    with pytest.raises(ValueError, match=r"layers.0.weight has shape \(5, 7\)"):
        b.load_state_dict(state)
    del state["layers.0.weight"]
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict(state)


def test_one_hot_is_vectorised_and_checks_labels():
    np.testing.assert_array_equal(one_hot(np.array([2, 0, 1]), 3), [[0, 0, 1], [1, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"label 10 is out of range: expected integers in \[0, 9\]"):
        one_hot(np.array([1, 10]), 10)
    with pytest.raises(ValueError, match="label -1 is out of range"):
        one_hot(np.array([-1]), 10)


# --- training ------------------------------------------------------------------------------


def _blobs(n=600, n_features=8, n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=3.0, size=(n_classes, n_features))
    y = rng.randint(0, n_classes, size=n)
    X = centres[y] + rng.normal(size=(n, n_features))
    return X.astype(np.float32), y


def _trainer(arch, seed=0, lr=0.1, optimizer=SGD, **opt):
    network = build_mlp(arch, random_seed=seed)
    return Trainer(network, optimizer(network.parameters(), lr=lr, **opt), rng=seed)


def test_training_learns_and_records_history():
    X, y = _blobs()
    trainer = _trainer(MLP(8, [16], 3, activation="relu", loss="cross-entropy", init="he"))
    history = trainer.fit(X[:500], y[:500], epochs=5, batch_size=20, X_valid=X[500:], y_valid=y[500:], progress=False)
    assert len(history) == 5 and history["epoch"] == [1, 2, 3, 4, 5]
    assert history["valid_acc"][-1] > 0.95
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_training_is_bit_reproducible():
    X, y = _blobs()
    arch = MLP(8, [16, 8], 3, activation="tanh", loss="cross-entropy", dropout=0.2, init="glorot")
    states = []
    for _ in range(2):
        trainer = _trainer(arch, seed=7, lr=1e-2, optimizer=Adam)
        trainer.fit(X, y, epochs=3, batch_size=32, progress=False)
        states.append(trainer.network.state_dict())
    for name in states[0]:
        assert states[0][name].tobytes() == states[1][name].tobytes(), name


def test_early_stopping_restores_the_best_weights():
    X, y = _blobs(n=300)
    trainer = _trainer(MLP(8, [32], 3, activation="relu", loss="cross-entropy", init="he"), lr=0.5, momentum=0.9)
    stopper = EarlyStopping(patience=2, monitor="valid_loss")
    best_states = {}

    class Remember:
        def on_train_begin(self, t):
            pass

        def on_epoch_end(self, t, row):
            best_states[row["epoch"]] = t.snapshot.weights.copy()

        def on_train_end(self, t):
            pass

    # validation on shuffled labels: the validation loss soon gets worse
    y_noise = np.random.RandomState(1).permutation(y[200:])
    history = trainer.fit(
        X[:200],
        y[:200],
        epochs=40,
        batch_size=10,
        X_valid=X[200:],
        y_valid=y_noise,
        callbacks=[Remember(), stopper],
        progress=False,
    )
    assert stopper.stopped_epoch is not None and len(history) == stopper.stopped_epoch < 40
    assert stopper.stopped_epoch - stopper.best_epoch == 2
    assert min(history["valid_loss"]) == stopper.best_value
    np.testing.assert_array_equal(trainer.network.flat_values, best_states[stopper.best_epoch])
    assert trainer.epoch == stopper.stopped_epoch  # rolled back to the epoch that stopped it


def test_divergence_is_reported_with_epoch_and_batch():
    X, y = _blobs()
    X = X * 1e3
    trainer = _trainer(MLP(8, [16], 3, activation="relu", loss="mse", output_activation="identity", init="he"), lr=10.0)
    with pytest.raises(TrainingDiverged, match=r"at epoch 1, batch \d+ .*try a lower learning rate"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(X, y, epochs=3, batch_size=10, progress=False)


def test_evaluate_averages_over_examples_not_batches():
    network = build_mlp(MLP(4, [3], 2), random_seed=0)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(7, 4)).astype(np.float32)
    y = rng.randint(0, 2, size=7)
    Y = one_hot(y, 2)
    whole = evaluate(network, X, Y, y, batch_size=100)
    chunked = evaluate(network, X, Y, y, batch_size=3)  # batches of 3, 3 and 1
    assert chunked["mse"] == pytest.approx(whole["mse"], rel=1e-6)
    assert chunked["acc"] == whole["acc"]
    probas = network.forward(X)
    assert whole["mse"] == pytest.approx(np.mean((probas - Y) ** 2), rel=1e-6)


def test_fit_rejects_mismatched_inputs():
    X, y = _blobs(n=50)
    trainer = _trainer(MLP(8, [4], 3))
    with pytest.raises(ValueError, match="X_train has 50 examples but y_train has 49"):
        trainer.fit(X, y[:49], epochs=1)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        trainer.fit(X, y, epochs=0)
    with pytest.raises(ValueError, match="label 3 is out of range"):
        trainer.fit(X, np.full(50, 3), epochs=1)


def test_asynchronous_and_synchronous_evaluation_agree():
    X, y = _blobs(n=400)
    rows = []
    for asynchronous in (True, False):
        trainer = _trainer(MLP(8, [16], 3, activation="tanh", loss="cross-entropy"), seed=3)
        trainer.fit(
            X[:300],
            y[:300],
            X_valid=X[300:],
            y_valid=y[300:],
            epochs=4,
            batch_size=25,
            progress=False,
            asynchronous_evaluation=asynchronous,
        )
        rows.append([{k: v for k, v in row.items() if k != "seconds"} for row in trainer.history.rows])
    assert rows[0] == rows[1]


@pytest.mark.parametrize("asynchronous", [True, False])
def test_every_evaluation_runs_on_the_same_number_of_blas_threads(monkeypatch, asynchronous):
    """Products on one BLAS thread and on two differ in their last bits: an evaluation on the
    second thread that ran between epochs, or after the last one, on the default number of
    threads gave histories that differed from run to run in the ninth digit, and evaluating
    in the training thread gave other digits than evaluating on the second thread."""
    import scipy.linalg.blas  # noqa: F401  (the optimizer's BLAS, loaded before fit looks for libraries)
    from threadpoolctl import threadpool_info, threadpool_limits

    import neuralnet.engine.kernels as kernels
    import neuralnet.training.trainer as training

    seen = []

    def recording_evaluate(*args, **kwargs):
        seen.append(sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}))
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate", recording_evaluate)
    X, y = _blobs(n=400)
    with threadpool_limits(limits=2):  # the default outside the loop: two threads
        trainer = _trainer(MLP(8, [16], 3), seed=3)
        matrices = [p.value.size for p in trainer.network.parameters() if p.value.ndim == 2]
        assert kernels.training_threads(matrices, 25, None) == 1  # small products: one thread
        trainer.fit(
            X[:300],
            y[:300],
            X_valid=X[300:],
            y_valid=y[300:],
            epochs=4,
            batch_size=25,
            progress=False,
            asynchronous_evaluation=asynchronous,
        )
    assert seen == [[1]] * 8  # training and validation sets, four epochs, all on the loop's one thread


def test_raw_pixels_with_a_scaler_train_exactly_like_scaled_data():
    from neuralnet.datasets.preprocessing import PixelScaler, scale_pixels

    rng = np.random.RandomState(0)
    pixels = rng.randint(0, 256, size=(300, 16)).astype(np.uint8)
    y = (pixels[:, :8].sum(axis=1) > pixels[:, 8:].sum(axis=1)).astype(int)
    states = []
    for raw in (True, False):
        trainer = _trainer(MLP(16, [8], 2), seed=1)
        X = pixels if raw else scale_pixels(pixels)
        trainer.fit(
            X[:200],
            y[:200],
            X_valid=X[200:],
            y_valid=y[200:],
            epochs=3,
            batch_size=20,
            progress=False,
            preprocess=PixelScaler() if raw else None,
        )
        states.append((trainer.network.flat_values.copy(), trainer.history["valid_acc"]))
    assert states[0][0].tobytes() == states[1][0].tobytes()
    assert states[0][1] == states[1][1]


@pytest.mark.parametrize("make", [lambda p: Adam([p], lr=1e-3), lambda p: SGD([p], lr=0.1, momentum=0.9)])
def test_moments_of_a_dead_unit_never_become_subnormal(make):
    """A gradient that becomes exactly zero leaves moments decaying geometrically; they are
    flushed to zero before reaching float32's slow subnormal range."""
    layer = Dense(1, 64, dtype=np.float32)
    p = layer.parameters()[0]
    optimizer = make(p)
    tiny = np.finfo(np.float32).tiny
    layer.grad_weight[:] = 1e-3
    optimizer.step()
    layer.grad_weight[:] = 0.0  # the unit dies
    for _ in range(2000):
        optimizer.step()
        buffers = optimizer.m + optimizer.v if isinstance(optimizer, Adam) else optimizer.velocity
        for buffer in buffers:
            magnitude = np.abs(buffer)
            assert not np.any((magnitude > 0) & (magnitude < tiny))
    assert all(np.all(b == 0) for b in (optimizer.m if isinstance(optimizer, Adam) else optimizer.velocity))


def test_random_shift_moves_images_and_fills_with_their_background():
    from neuralnet.engine.layers import RandomShift

    images = np.full((300, 784), -1.0, dtype=np.float32)
    images[:, 14 * 28 + 14] = 1.0  # one bright pixel in the middle of each image
    layer = RandomShift(2, rng=0)
    moved = layer.forward(images, training=True)
    assert moved.dtype == np.float32 and moved.shape == images.shape
    rows, columns = np.divmod(moved.argmax(axis=1), 28)
    offsets = layer._offsets
    np.testing.assert_array_equal(rows, 14 + offsets[:, 0])
    np.testing.assert_array_equal(columns, 14 + offsets[:, 1])
    assert set(np.unique(offsets)) == {-2, -1, 0, 1, 2}  # every shift in range occurs
    assert np.all(np.sort(moved, axis=1)[:, :-1] == -1.0)  # the rest is background
    assert layer.forward(images, training=False) is images  # the identity at inference
    with pytest.raises(ValueError, match="square images"):
        layer.forward(np.zeros((2, 10), np.float32), training=True)


def test_shift_in_the_architecture():
    from neuralnet.engine.layers import RandomShift

    network = build_mlp(MLP(784, [8], 10, shift=2), random_seed=1)
    assert isinstance(network.layers[0], RandomShift) and network.layers[0].max_shift == 2
    plain = build_mlp(MLP(784, [8], 10), random_seed=1)
    np.testing.assert_array_equal(network.flat_values, plain.flat_values)  # same initial weights
    with pytest.raises(ValueError, match=r"RandomShift moves square images .*got examples of shape \(783,\)"):
        build_mlp(MLP(783, [8], 10, shift=1))
    with pytest.raises(ValueError, match="max_shift must be a positive integer, got -1"):
        build_mlp(MLP(784, [8], 10, shift=-1))


def _adam_steps_in_a_child(queue) -> None:
    network = build_mlp(MLP(300, [400], 10, activation="relu", loss="cross-entropy"), random_seed=0)
    optimizer = Adam(network.flat_parameters())
    network.flat_grads[:] = 1e-3
    optimizer.step()  # large enough to use the helper thread
    queue.put(float(network.flat_values.sum()))


def test_the_kernels_helper_thread_works_in_a_forked_child():
    """The element-wise kernels run half their blocks on a helper thread; a child forked after the
    parent started it has no such thread and must start its own (it would wait forever)."""
    import multiprocessing

    _adam_steps_in_a_child(queue := multiprocessing.get_context("fork").SimpleQueue())  # the parent's helper runs
    expected = queue.get()
    child = multiprocessing.get_context("fork").Process(target=_adam_steps_in_a_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.exitcode is None:
        child.kill()
    assert child.exitcode == 0 and queue.get() == expected


def test_elementwise_gives_each_thread_block_sized_scratch_and_the_whole_arrays_numbers():
    from neuralnet.engine import kernels

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 70)).astype(np.float32), rng.normal(size=(300, 70)).astype(np.float32)
    expected = np.sqrt(np.abs(a * b)) + b
    seen: list[tuple[tuple[int, ...], tuple[int, ...], bool]] = []

    def update(a, b, product, root):  # a <- sqrt(|a b|) + b, through two scratch arrays
        seen.append((a.shape, product.shape, np.shares_memory(product, root)))
        np.multiply(a, b, out=product)
        np.abs(product, out=product)
        np.sqrt(product, out=root)
        np.add(root, b, out=a)

    kernels.elementwise(update, [(a, b)], block=4096, scratch=2)
    np.testing.assert_array_equal(a, expected)
    assert sum(shape[0] for shape, _, _ in seen) == 300 * 70 and len(seen) == 6  # 5 blocks of 4096 and one of 520
    assert all(shape == scratch and not shared for shape, scratch, shared in seen)


def test_a_training_without_a_progress_bar_does_not_import_the_notebook_aware_one():
    """tqdm.auto imports asyncio and ssl (11 MB of a process), the download module ssl and http:
    a training loop without a bar (a benchmark, a worker) loads neither."""
    import subprocess

    code = (
        "import sys, numpy as np\n"
        "from neuralnet.engine.network import build_network\n"
        "from neuralnet.engine.optim import Adam\n"
        "from neuralnet.training import Trainer\n"
        "net = build_network([{'type': 'Dense', 'n_out': 3}], 4, 'cross-entropy')\n"
        "X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)\n"
        "Trainer(net, Adam(net.flat_parameters())).fit(X, np.arange(20) % 3, epochs=2, batch_size=8, progress=False)\n"
        "print(sorted(m for m in ('tqdm', 'tqdm.auto', 'asyncio', 'ssl', 'http.client') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc (mallopt) only"
)
def test_a_training_keeps_freed_memory_so_the_next_steps_arrays_do_not_fault_in_new_pages():
    """A step that makes and frees 48 MB of arrays faults in their pages again every time by
    default (glibc hands the heap's top back); once Trainer.fit has run, it does not. Counted in
    a fresh process, as minor page faults per step."""
    import subprocess

    code = (
        "import resource, numpy as np\n"
        "from neuralnet.engine.network import build_network\n"
        "from neuralnet.engine.optim import Adam\n"
        "from neuralnet.training import Trainer\n"
        "def faults_per_step():\n"
        "    def step():\n"
        "        arrays = [np.ones(3 << 20, np.float32) for _ in range(4)]\n"
        "        del arrays\n"
        "    step(); step()\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    for _ in range(5): step()\n"
        "    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5\n"
        "print(faults_per_step())\n"
        "net = build_network([{'type': 'Dense', 'n_out': 3}], 4, 'cross-entropy')\n"
        "X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)\n"
        "Trainer(net, Adam(net.flat_parameters())).fit(X, np.arange(20) % 3, epochs=1, batch_size=8, progress=False)\n"
        "print(faults_per_step())\n"
        "from neuralnet.engine.kernels import keep_freed_memory\n"
        "print(keep_freed_memory())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    before, after, told = result.stdout.split()
    assert float(before) > 1000, result.stdout  # 12 MB arrays: 3,000 pages each, most faulted in again
    assert float(after) < 10, result.stdout
    assert told == "True"
