"""The shape of the package: layers that import only downwards, one configuration vocabulary
and one builder behind every front end, models as stacks of layer specs, stateless inference,
copies and pickles through constructors."""

from __future__ import annotations

import argparse
import ast
import copy
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from neuralnet.cli import build_parser
from neuralnet.engine.layers import Dense, Dropout, RandomShift, SpecError
from neuralnet.engine.network import build_network
from neuralnet.estimator import CONFIG_KEYS, MLPClassifier
from neuralnet.runs.builder import build, layer_specs
from neuralnet.runs.config import SETTINGS, ConfigError, TrainingConfig, parse_value
from neuralnet.tune import SearchSpace, TuneError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "neuralnet"

#: each layer of the package, bottom first; a module may import from its own layer and those below
LAYERS = [
    {"engine"},
    {"datasets"},
    {"serving"},
    {"training"},
    {"runs"},
    {"chapter", "estimator", "explain"},
    {"explain_conv"},
    {"tune"},
    {"web", "cli", "__init__", "__main__"},
]


def _layer_of(part: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if part in names)


def _imports(path: Path) -> list[str]:
    """The neuralnet subpackages or top-level modules ``path`` imports (absolute names)."""
    tree = ast.parse(path.read_text())
    module = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = module[:-1] if path.name != "__init__.py" else module[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                if not node.module:  # from . import x
                    target += [alias.name for alias in node.names][:1]
            elif node.module and node.module.split(".")[0] == "neuralnet":
                target = node.module.split(".")
            else:
                continue
            part = target[1] if len(target) > 1 else "__init__"
            known = any(part in names for names in LAYERS)
            found.append(part if known else "__init__")  # "from .. import __version__": the package itself
        elif isinstance(node, ast.Import):
            found += [alias.name.split(".")[1] for alias in node.names if alias.name.startswith("neuralnet.")]
    return found


def test_imports_point_down_only():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        own = _layer_of(part)
        for imported in _imports(path):
            if imported == "__init__" and part != "__init__":
                # "from .. import __version__": the version, which the package sets before importing
                continue
            if _layer_of(imported) > own:
                wrong.append(f"{path.relative_to(PACKAGE)} imports neuralnet.{imported}")
    assert not wrong, wrong


def test_the_check_itself_sees_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "neuralnet" / "engine"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("from ..runs.config import TrainingConfig\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "neuralnet")
    assert _imports(fake / "bad.py") == ["runs"] and _layer_of("runs") > _layer_of("engine")


# --- one vocabulary, one builder ------------------------------------------------------------------


def test_every_setting_is_an_option_of_neuralnet_train():
    parser = build_parser()
    train = next(
        action for action in parser._subparsers._group_actions if isinstance(action, argparse._SubParsersAction)
    ).choices["train"]
    options = {action.dest for action in train._actions}
    assert set(SETTINGS) <= options


def test_one_rule_gives_the_same_refusal_everywhere(tmp_path):
    """Nesterov needs SGD with momentum: the same check, from Python, a TOML file, the command
    line, the estimator and a search."""
    expected = "nesterov = True is invalid: expected only with optimizer 'sgd' and a momentum > 0"
    with pytest.raises(ConfigError, match=expected):
        TrainingConfig(nesterov=True)
    toml = tmp_path / "c.toml"
    toml.write_text("nesterov = true\n")
    with pytest.raises(ConfigError, match=expected):
        TrainingConfig.from_toml(toml)
    from neuralnet.cli.train import config_from_args

    with pytest.raises(ConfigError, match=expected):
        config_from_args(argparse.Namespace(config=str(toml)))
    X, y = np.random.RandomState(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.raises(
        ValueError,
        match=expected + r" \(the MLPClassifier parameters nesterov=True, "
        r"optimizer='sgd', momentum=0.0\)",
    ):
        MLPClassifier(optimizer="sgd", momentum=0.0, nesterov=True).fit(X, y)
    with pytest.raises(ConfigError, match=r"dropout = 1.5 is invalid"):
        parse_value("dropout", "1.5")
    with pytest.raises(TuneError, match=r"dropout = 1.5 is invalid"):
        SearchSpace.from_strings(["dropout=0.1,1.5"])


def test_the_estimator_builds_what_the_configuration_builds():
    X = np.random.RandomState(0).normal(size=(60, 5)).astype(np.float32)
    y = np.arange(60) % 3
    model = MLPClassifier((7, 4), activation="tanh", dropout=0.1, max_iter=1, random_state=5).fit(X, y)
    config = TrainingConfig(
        hidden=[7, 4],
        activation="tanh",
        dropout=0.1,
        loss="cross-entropy",
        init="auto",
        optimizer="adam",
        lr=1e-3,
        batch_size=128,
        epochs=1,
        seed=5,
        threads=1,
    )
    assert model.architecture_["layers"] == layer_specs(config, (5,), 3)
    assert build(config, (5,), 3).network.specs() == model.network_.specs()
    assert set(CONFIG_KEYS.values()) <= set(SETTINGS)


# --- models are stacks of layer specs ---------------------------------------------------------------


def test_a_stack_of_specs_is_built_checked_and_described_again():
    specs = [
        {"type": "RandomShift", "max_shift": 1},
        {"type": "Dense", "n_out": 8},
        {"type": "Activation", "name": "relu"},
        {"type": "Dropout", "p": 0.25},
        {"type": "Dense", "n_out": 3, "init": "glorot"},
    ]
    network = build_network(specs, (16,), "cross-entropy", seed=2)
    assert network.specs()[1] == {"type": "Dense", "n_in": 16, "n_out": 8, "init": "normal"}
    assert network.layer_shapes == [(16,), (8,), (8,), (8,), (3,)]
    again = build_network(network.specs(), (16,), "cross-entropy", seed=2)
    np.testing.assert_array_equal(again.flat_values, network.flat_values)
    with pytest.raises(
        SpecError,
        match=r"layer 2 of the stack \(examples of shape \(8,\) from layer 1\): "
        r"Dense has n_in = 9, but its input has 8 features",
    ):
        build_network([*specs[1:3], {"type": "Dense", "n_in": 9, "n_out": 2}], (16,))
    with pytest.raises(SpecError, match=r"layer 0 of the stack .*unknown layer type 'Conv9D'"):
        build_network([{"type": "Conv9D"}], (16,))
    with pytest.raises(SpecError, match=r"layer 0 .*RandomShift moves square images"):
        build_network(specs[:1], (15,))


# --- inference leaves no state behind -----------------------------------------------------------------


def _deep_network():
    config = TrainingConfig(
        hidden=[32, 16], activation="relu", dropout=0.2, shift=1, loss="cross-entropy", init="he", seed=1
    )
    return build(config, (784,), 10).network


def test_inference_changes_nothing_in_the_layers():
    network = _deep_network()
    before = [dict(vars(layer)) for layer in network.layers]
    network.predict_proba(np.random.RandomState(0).uniform(-1, 1, size=(5, 784)).astype(np.float32))
    after = [dict(vars(layer)) for layer in network.layers]
    for old, new in zip(before, after):
        assert old.keys() == new.keys()
        for key in old:
            assert new[key] is old[key], key  # no attribute rebound (no cached input, output or mask)


def test_one_network_answers_many_threads_at_once():
    network = _deep_network()
    rng = np.random.RandomState(1)
    batches = [rng.uniform(-1, 1, size=(rng.randint(1, 40), 784)).astype(np.float32) for _ in range(64)]
    alone = [network.predict_proba(batch) for batch in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(network.predict_proba, batches))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


# --- copies and pickles go through constructors ---------------------------------------------------------


def test_a_network_pickles_and_clones_with_views_into_its_own_buffers():
    network = _deep_network()
    network.random_layers()[0].rng.random(5)  # move a generator on: its state must travel too
    for copied in (pickle.loads(pickle.dumps(network)), copy.deepcopy(network), network.clone()):
        np.testing.assert_array_equal(copied.flat_values, network.flat_values)
        dense = next(layer for layer in copied.layers if isinstance(layer, Dense))
        assert np.shares_memory(dense.weight, copied.flat_values)  # still views of the flat buffer
        assert not np.shares_memory(copied.flat_values, network.flat_values)
        assert copied.generator_states() == network.generator_states()
        assert [type(layer) for layer in copied.layers] == [type(layer) for layer in network.layers]
    assert any(isinstance(layer, Dropout) for layer in network.layers)
    assert isinstance(network.layers[0], RandomShift)


def test_a_pickled_trainer_trains_on_exactly_like_the_original():
    config = TrainingConfig(
        hidden=[8],
        activation="relu",
        loss="cross-entropy",
        optimizer="adam",
        lr=0.01,
        dropout=0.1,
        batch_size=10,
        seed=3,
    )
    setup = build(config, (6,), 2)
    X = np.random.RandomState(2).normal(size=(50, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    setup.trainer.fit(X, y, epochs=2, batch_size=10, progress=False)
    copied = pickle.loads(pickle.dumps(setup.trainer))
    assert copied.optimizer.params[0].value is copied.network.flat_values  # rebuilt on the new network
    for trainer in (setup.trainer, copied):
        trainer.fit(X, y, epochs=4, batch_size=10, progress=False)
    np.testing.assert_array_equal(copied.network.flat_values, setup.trainer.network.flat_values)
    assert copied.history.rows[-1]["train_loss"] == setup.trainer.history.rows[-1]["train_loss"]
