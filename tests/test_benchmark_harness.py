"""The benchmark harness's own measurements (benchmarks/): no timings here, only that what
it reports is what it says (peak memory of the measured process, the targets' logic)."""

from __future__ import annotations

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
    return {"implementation": implementation, "label": implementation, "seconds": seconds, "test_acc": test_acc,
            "neuralnet_speedup": seconds / neuralnet["seconds"],
            "accuracy_difference": test_acc - neuralnet["test_acc"],
            "peak_rss": 300e6, "data_bytes": 220e6, "rss_growth": 0.0}


@pytest.mark.parametrize("neuralnet_acc, met", [
    (0.9800, True),                              # more accurate than the peer: met
    (0.9700 - ACCURACY_TOLERANCE + 1e-4, True),  # lower, but within the tolerance
    (0.9670, True),                              # exactly 0.3 points lower (30 of 10,000 images)
    (0.9700 - ACCURACY_TOLERANCE - 1e-3, False),  # bought the speed with accuracy
])
def test_a_speed_target_needs_the_speed_and_no_loss_of_accuracy(neuralnet_acc, met):
    neuralnet = {"implementation": "neuralnet", "label": "neuralnet", "seconds": 10.0, "test_acc": neuralnet_acc,
                 "peak_rss": 300e6, "data_bytes": 220e6, "rss_growth": 0.0}
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
    plain = numpy_loop.train(workload, arrays, neuralnet_engine.initial_weights(workload),
                             lambda *line: epochs["numpy"].append(line))
    assert [line[:2] for line in epochs["numpy"]] == [(e, 4) for e in range(1, 5)]
    for (_, _, expected), (_, _, got) in zip(epochs["neuralnet"], epochs["numpy"], strict=True):
        assert set(got) == {"train_loss", "train_acc", "valid_loss", "valid_acc"}
        for name in got:
            assert got[name] == pytest.approx(expected[name], rel=1e-4), name
    assert epochs["numpy"][-1][2]["train_loss"] < 0.9 * epochs["numpy"][0][2]["train_loss"]  # it learns
    assert plain["test_acc"] == ours["test_acc"]
    assert plain["examples_trained_per_epoch"] == ours["examples_trained_per_epoch"] == 500
