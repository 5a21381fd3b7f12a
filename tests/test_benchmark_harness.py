"""The benchmark harness's own measurements (benchmarks/): no timings here, only that what
it reports is what it says (peak memory of the measured process, the targets' logic)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("psutil")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from compare import ACCURACY_TOLERANCE, _memory, check_targets  # noqa: E402
from implementations.child import ChildFailed, child_environment, run_child  # noqa: E402
from implementations.peak_memory import PEAK_PREFIX, high_water_mark, parse_peak  # noqa: E402

MB = 1 << 20


def test_high_water_mark_follows_what_this_process_touches():
    block = np.ones(64 * MB, dtype=np.uint8)  # 64 MiB, every page written
    assert high_water_mark() > block.nbytes
    assert parse_peak(f"{PEAK_PREFIX}{12345}") == 12345
    assert parse_peak("Epoch: 001/050 | loss 0.1") is None


def test_a_child_reports_its_own_peak_not_the_memory_of_the_harness(tmp_path):
    """ru_maxrss would count the harness's pages that the child had before exec: here the
    test holds 300 MiB and the child allocates 40 MiB; the reported peak must be near 40."""
    held = np.ones(300 * MB, dtype=np.uint8)
    script = tmp_path / "allocate.py"
    script.write_text("import numpy as np\nblock = np.ones(40 * 2**20, dtype=np.uint8)\nprint('done')\n")
    run = run_child([sys.executable, "-m", "implementations.peak_memory", str(script)], child_environment(1))
    assert run.lines == ["done"]  # the peak line is taken out of the output
    assert 40 * MB <= run.peak_rss < 200 * MB < held.nbytes
    assert _memory(run)["peak_rss"] == run.peak_rss


def test_a_child_that_does_not_report_its_peak_is_an_error_not_a_zero(tmp_path):
    script = tmp_path / "quiet.py"
    script.write_text("print('hello')\n")
    run = run_child([sys.executable, str(script)], child_environment(1))
    assert run.lines == ["hello"] and run.peak_rss is None
    with pytest.raises(ChildFailed, match="peak memory"):
        _memory(run)


def test_a_failing_script_under_peak_memory_fails_the_child(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit(3)\n")
    with pytest.raises(ChildFailed, match="exited with 3"):
        run_child([sys.executable, "-m", "implementations.peak_memory", str(script)], child_environment(1))


def _row(implementation, seconds, test_acc, neuralnet):
    return {
        "implementation": implementation,
        "label": implementation,
        "seconds": seconds,
        "test_acc": test_acc,
        "neuralnet_speedup": seconds / neuralnet["seconds"],
        "accuracy_difference": test_acc - neuralnet["test_acc"],
        "peak_rss": 300e6,
        "data_bytes": 220e6,
        "rss_growth": 0.0,
    }


@pytest.mark.parametrize(
    "neuralnet_acc, met",
    [
        (0.9800, True),  # more accurate than the peer: met
        (0.9700 - ACCURACY_TOLERANCE + 1e-4, True),  # lower, but within the tolerance
        (0.9670, True),  # exactly 0.3 points lower (30 of 10,000 images)
        (0.9700 - ACCURACY_TOLERANCE - 1e-3, False),  # bought the speed with accuracy
    ],
)
def test_a_speed_target_needs_the_speed_and_no_loss_of_accuracy(neuralnet_acc, met):
    neuralnet = {
        "implementation": "neuralnet",
        "label": "neuralnet",
        "seconds": 10.0,
        "test_acc": neuralnet_acc,
        "peak_rss": 300e6,
        "data_bytes": 220e6,
        "rss_growth": 0.0,
    }
    torch = _row("torch", 15.0, 0.9700, neuralnet)
    checks = {check["what"]: check for check in check_targets({"deep": [neuralnet, torch]})}
    assert checks["deep: neuralnet vs torch"]["met"] is met
    assert checks["deep: neuralnet peak RSS"]["met"] is True  # data + 80 MB
    slow = _row("torch", 5.0, 0.9700, neuralnet)
    assert not {c["what"]: c for c in check_targets({"deep": [neuralnet, slow]})}["deep: neuralnet vs torch"]["met"]


def test_the_plain_numpy_yardstick_trains_the_network_neuralnet_trains():
    """Same initial weights and shuffling order: the hand-written loop must follow neuralnet
    epoch by epoch (else its timing would be of some other computation)."""
    from implementations import neuralnet_engine, numpy_loop
    from implementations.shared_data import Arrays
    from implementations.workloads import CHAPTER

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (700, 784)).astype(np.float32)
    y = (X[:, :10].argmax(axis=1) + rng.randint(0, 2, 700)) % 10  # learnable, not trivially
    arrays = Arrays(X[:500], y[:500], X[500:600], y[500:600], X[600:], y[600:])
    workload = CHAPTER.with_changes(epochs=4)
    epochs = {"neuralnet": [], "numpy": []}
    ours = neuralnet_engine.train(workload, arrays, None, lambda *line: epochs["neuralnet"].append(line))
    plain = numpy_loop.train(
        workload, arrays, neuralnet_engine.initial_weights(workload), lambda *line: epochs["numpy"].append(line)
    )
    assert [line[:2] for line in epochs["numpy"]] == [(e, 4) for e in range(1, 5)]
    for (_, _, expected), (_, _, got) in zip(epochs["neuralnet"], epochs["numpy"], strict=True):
        assert set(got) == {"train_loss", "train_acc", "valid_loss", "valid_acc"}
        for name in got:
            assert got[name] == pytest.approx(expected[name], rel=1e-4), name
    assert epochs["numpy"][-1][2]["train_loss"] < 0.9 * epochs["numpy"][0][2]["train_loss"]  # it learns
    assert plain["test_acc"] == ours["test_acc"]
    assert plain["examples_trained_per_epoch"] == ours["examples_trained_per_epoch"] == 500


# -- the JAX peer (benchmarks/implementations/jax_jit.py) ------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _tiny_weights(sizes, rng):
    return [
        (rng.normal(0, 0.1, (n_out, n_in)).astype(np.float32), rng.normal(0, 0.1, n_out).astype(np.float32))
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]


def _jax_epoch(workload, weights, X, y, batches):
    """The JAX peer's compiled epoch over ``batches``: (weights as NumPy, the batches' losses)."""
    jax = pytest.importorskip("jax")
    from implementations import jax_jit

    epoch = jax.jit(jax_jit.epoch_function(workload, jax_jit.layer_specs(workload)))
    params = jax_jit.as_params(weights)
    state = jax_jit.optimizer_init(workload, params)
    params, _, _, losses = epoch(params, state, jax.random.PRNGKey(0), X, y.astype(np.int32), batches)
    return [(np.asarray(w), np.asarray(b)) for w, b in params], np.asarray(losses)


def test_one_jax_sgd_step_is_the_chapter_s_step():
    """784-5-10 sigmoid, MSE, SGD: loss and updated weights against the chapter's maths in NumPy."""
    pytest.importorskip("jax")
    from implementations.workloads import CHAPTER

    workload = CHAPTER.with_changes(hidden=(5,))
    rng = np.random.RandomState(1)
    weights = _tiny_weights(workload.layer_sizes, rng)
    X = rng.uniform(-1, 1, (12, 784)).astype(np.float32)
    y = rng.randint(0, 10, 12)
    batch = rng.permutation(12)[:8]  # a shuffled mini-batch of 8, gathered inside the step
    got, losses = _jax_epoch(workload, weights, X, y, batch[None, :].astype(np.int32))

    (w1, b1), (w2, b2) = [(w.astype(np.float64), b.astype(np.float64)) for w, b in weights]
    x, onehot = X[batch].astype(np.float64), np.eye(10)[y[batch]]
    h = _sigmoid(x @ w1.T + b1)
    a = _sigmoid(h @ w2.T + b2)
    loss = np.mean(np.sum((a - onehot) ** 2, axis=1))  # the chapter's MSE
    delta_out = 2.0 * (a - onehot) / len(x) * a * (1 - a)  # dL/dz_out
    delta_hidden = delta_out @ w2 * h * (1 - h)  # dL/dz_hidden
    lr = workload.lr
    expected = [
        (w1 - lr * delta_hidden.T @ x, b1 - lr * delta_hidden.sum(0)),
        (w2 - lr * delta_out.T @ h, b2 - lr * delta_out.sum(0)),
    ]
    assert losses[0] == pytest.approx(loss, rel=1e-5)
    for (w, b), (w_ref, b_ref) in zip(got, expected, strict=True):
        np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, b_ref, rtol=1e-5, atol=1e-6)


def test_two_jax_adam_steps_are_pytorch_s_adam():
    """784-6-10 ReLU, softmax cross-entropy, Adam (PyTorch's defaults, bias-corrected), no dropout:
    two steps (so that t and the moments carry over) against NumPy."""
    pytest.importorskip("jax")
    from implementations.workloads import DEEP

    workload = DEEP.with_changes(hidden=(6,), dropout=0.0)
    rng = np.random.RandomState(2)
    weights = _tiny_weights(workload.layer_sizes, rng)
    X = rng.uniform(-1, 1, (10, 784)).astype(np.float32)
    y = rng.randint(0, 10, 10)
    batches = rng.permutation(10)[:8].reshape(2, 4).astype(np.int32)
    got, losses = _jax_epoch(workload, weights, X, y, batches)

    params = [p.astype(np.float64) for pair in weights for p in pair]  # w1, b1, w2, b2
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, workload.lr
    for t, batch in enumerate(batches, start=1):
        w1, c1, w2, c2 = params
        x, onehot = X[batch].astype(np.float64), np.eye(10)[y[batch]]
        z1 = x @ w1.T + c1
        h = np.maximum(z1, 0)
        z2 = h @ w2.T + c2
        p = np.exp(z2 - z2.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        assert losses[t - 1] == pytest.approx(np.mean(-np.log(p[np.arange(len(x)), y[batch]])), rel=1e-5)
        d2 = (p - onehot) / len(x)  # dL/dz2 of the mean cross-entropy
        d1 = d2 @ w2 * (z1 > 0)
        grads = [d1.T @ x, d1.sum(0), d2.T @ h, d2.sum(0)]
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - lr * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
    for got_array, expected in zip([p for pair in got for p in pair], params, strict=True):
        np.testing.assert_allclose(got_array, expected, rtol=1e-5, atol=1e-7)


def _tiny_split():
    """700 learnable synthetic images: 500 / 100 / 100."""
    from implementations.shared_data import Arrays

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (700, 784)).astype(np.float32)
    y = (X[:, :10].argmax(axis=1) + rng.randint(0, 2, 700)) % 10
    return Arrays(X[:500], y[:500], X[500:600], y[500:600], X[600:], y[600:])


def test_the_jax_peer_trains_the_network_neuralnet_trains():
    """Same initial weights and shuffling order, no dropout: JAX follows neuralnet epoch by epoch."""
    pytest.importorskip("jax")
    from implementations import jax_jit, neuralnet_engine
    from implementations.workloads import CHAPTER

    arrays, workload = _tiny_split(), CHAPTER.with_changes(epochs=3)
    epochs = {"neuralnet": [], "jax": []}
    ours = neuralnet_engine.train(workload, arrays, None, lambda *line: epochs["neuralnet"].append(line))
    theirs = jax_jit.train(
        workload, arrays, neuralnet_engine.initial_weights(workload), lambda *line: epochs["jax"].append(line)
    )
    for (_, _, expected), (_, _, got) in zip(epochs["neuralnet"], epochs["jax"], strict=True):
        assert set(got) == {"train_loss", "train_acc", "valid_loss", "valid_acc"}
        for name in got:
            assert got[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
    assert theirs["test_acc"] == ours["test_acc"]
    assert theirs["examples_trained_per_epoch"] == 500 and len(theirs["epoch_seconds"]) == 3
    assert theirs["compile_seconds"] > 0 and theirs["warm_up_seconds"] > 0


@pytest.mark.parametrize("name, layout", [("chapter", "NHWC"), ("deep", "NHWC"), ("cnn", "NHWC"), ("cnn", "NCHW")])
def test_the_jax_forward_pass_is_neuralnet_s(name, layout, monkeypatch):
    """Same weights, same probabilities: the layers, convolutions (either layout of the activations, OIHW
    weights), pooling and flattening agree."""
    pytest.importorskip("jax")
    from implementations import jax_jit, neuralnet_engine
    from implementations.workloads import WORKLOADS

    monkeypatch.setattr(jax_jit, "LAYOUT", layout)

    workload = WORKLOADS[name]
    X = np.random.RandomState(3).uniform(-1, 1, (5, 784)).astype(np.float32)
    expected = neuralnet_engine.build_network(workload).predict_proba(X)
    predict = jax_jit.make_predictor(workload, neuralnet_engine.initial_weights(workload), 1)
    np.testing.assert_allclose(predict(jax_jit.prepare_inputs(X)), expected, rtol=1e-4, atol=1e-6)


def test_the_jax_peer_trains_a_convolutional_network_as_neuralnet_does():
    """A small stack without dropout, Adam, a compiled step per mini-batch: JAX follows neuralnet."""
    pytest.importorskip("jax")
    from implementations import jax_jit, neuralnet_engine
    from implementations.workloads import CNN

    workload = CNN.with_changes(layers="conv2d(4, 3, padding=1), relu, maxpool2d(2), flatten", epochs=2)
    arrays, epochs = _tiny_split(), {"neuralnet": [], "jax": []}
    ours = neuralnet_engine.train(workload, arrays, None, lambda *line: epochs["neuralnet"].append(line))
    theirs = jax_jit.train(
        workload, arrays, neuralnet_engine.initial_weights(workload), lambda *line: epochs["jax"].append(line)
    )
    for (_, _, expected), (_, _, got) in zip(epochs["neuralnet"], epochs["jax"], strict=True):
        assert set(got) == {"test_loss", "test_acc"}
        assert got["test_loss"] == pytest.approx(expected["test_loss"], rel=1e-4)
        assert got["test_acc"] == expected["test_acc"]
    assert theirs["test_acc"] == ours["test_acc"] and theirs["examples_trained_per_epoch"] == 384


def test_jax_dropout_is_inverted_dropout():
    jax = pytest.importorskip("jax")
    from implementations import jax_jit

    specs = [{"type": "Dropout", "p": 0.2}]
    x = np.ones((200, 100), np.float32)
    out = np.asarray(jax_jit.forward(specs, [], x, jax.random.PRNGKey(0)))
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.8)}
    assert np.mean(out == 0) == pytest.approx(0.2, abs=0.01)
    assert np.array_equal(np.asarray(jax_jit.forward(specs, [], x)), x)  # no key: inference, the identity


def test_without_jax_the_harness_leaves_the_jax_peer_out_with_a_note(monkeypatch):
    import importlib.util

    import compare

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real_find_spec(name, *a)
    )
    args = compare.parse_args(["--data-dir", ".", "--quick", "--implementations", "neuralnet", "jax"])
    training, inference, notes, inference_notes = compare.select_implementations(args)
    assert [impl.key for impl in training] == [impl.key for impl in inference] == ["neuralnet"]
    assert any("JAX jit left out: jax not installed" in note for note in notes + inference_notes)


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # JAX in this process (earlier tests); exec follows
def test_the_quick_harness_has_rows_for_the_jax_peer(tmp_path, monkeypatch):
    """compare.main, on a few hundred synthetic images (the real split is for the long runs): the
    JAX peer trains and predicts in its own processes, and the tables give it a row and its ratio."""
    pytest.importorskip("jax")
    import compare
    from implementations import neuralnet_engine
    from implementations.shared_data import write_arrays, write_initial_weights

    def tiny_data(data_dir, folder, workloads):
        arrays = _tiny_split()
        write_arrays(arrays, folder)
        for workload in workloads:
            write_initial_weights(workload.name, neuralnet_engine.initial_weights(workload), folder)
        return {"sizes": {"train": 500, "valid": 100, "test": 100}, "bytes": arrays.nbytes, "dtype": "float32"}

    peak = {
        "size": 64,
        "repeats": 1,
        "numpy_gflops": 1.0,
        "torch_gflops": None,
        "peak_gflops": 1.0,
        "torch_backend": None,
    }
    monkeypatch.setattr(compare, "prepare_shared_data", tiny_data)
    monkeypatch.setattr(compare, "measure_peak", lambda *args: peak)
    argv = ["--data-dir", str(tmp_path), "--quick", "--workloads", "chapter", "--epochs", "1", "--threads", "1"]
    argv += ["--implementations", "neuralnet", "jax", "--latency-calls", "25", "--out", str(tmp_path)]
    assert compare.main(argv) == 0
    report = json.loads((tmp_path / "compare_quick.json").read_text())
    rows = {row["implementation"]: row for row in report["training"]["chapter"]}
    assert set(rows) == {"neuralnet", "jax"}
    jax_row = rows["jax"]
    assert jax_row["neuralnet_speedup"] == pytest.approx(jax_row["seconds"] / rows["neuralnet"]["seconds"])
    assert jax_row["compile_seconds"] > 0 and jax_row["warm_up_seconds"] > 0
    assert abs(jax_row["accuracy_difference"]) <= 0.02  # the same network from the same weights and order
    assert "XLA CPU pool of 1 thread " in jax_row["description"]  # --threads 1: pinned to one CPU
    assert {row["implementation"] for row in report["inference"]["chapter"]} == {"neuralnet", "jax"}
    markdown = (tmp_path / "compare_quick.md").read_text()
    lines = markdown.splitlines()
    assert sum(line.startswith("| JAX jit |") for line in lines) == 1  # its row in the training table
    assert "| 784-50-10 | JAX jit |" in markdown and "| chapter | JAX jit |" in markdown  # inference, memory
    assert "| chapter: neuralnet vs JAX jit | >= 1.2x" in markdown  # the target
