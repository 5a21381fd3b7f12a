"""The training toolkit (issue 16): optimizers and regularization against their equations, warm-up,
reduce-on-plateau, sample and class weights, the estimator's new parameters and attributes,
summaries, per-epoch history, TensorBoard logs, progress bars and the bridge to PyTorch."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.utils.class_weight import compute_sample_weight

from neuralnet import MLPClassifier, MLPRegressor
from neuralnet.cli import main
from neuralnet.engine.layers import Parameter
from neuralnet.engine.optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm
from neuralnet.engine.schedules import SCHEDULES
from neuralnet.runs.builder import build_network, build_trainer, optimizer_settings
from neuralnet.runs.config import ConfigError, TrainingConfig, parse_value
from neuralnet.runs.experiment import train_run
from neuralnet.training.callbacks import Callback, ReduceLROnPlateau

STEPS = 6


def parameter(seed: int = 0, mask=None) -> Parameter:
    rng = np.random.default_rng(seed)
    value = rng.normal(size=8)
    return Parameter("w", value, np.zeros(8), decay=np.ones(8, bool) if mask is None else mask)


def gradients(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(STEPS, 8))


# --- each update rule against its equation, written out here -------------------------------


def reference(name: str, w: np.ndarray, grads: np.ndarray, **h) -> list[np.ndarray]:
    """The weights after each step by the equations (PyTorch's torch.optim documentation), with a
    decay mask applied to the penalties."""
    w = w.copy()
    mask = h.pop("mask", np.ones_like(w))
    lr, wd, l1 = h.get("lr"), h.get("weight_decay", 0.0), h.get("l1", 0.0)
    state = {k: np.zeros_like(w) for k in ("v", "m", "s", "b")}
    state["s"] += h.get("initial_accumulator_value", 0.0)
    out = []
    for t, g in enumerate(grads, start=1):
        if name == "adamw":
            w = w - lr * wd * mask * w
            g = g + l1 * mask * np.sign(w)
        else:
            g = g + wd * mask * w + l1 * mask * np.sign(w)
        if name == "sgd":
            mu = h.get("momentum", 0.0)
            if mu:
                state["b"] = mu * state["b"] + g if t > 1 else g.copy()
                g = g + mu * state["b"] if h.get("nesterov") else state["b"]
            w = w - lr * g
        elif name in ("adam", "adamw"):
            b1, b2 = h.get("betas", (0.9, 0.999))
            eps = h.get("eps", 1e-8)
            state["m"] = b1 * state["m"] + (1 - b1) * g
            state["v"] = b2 * state["v"] + (1 - b2) * g * g
            m_hat, v_hat = state["m"] / (1 - b1**t), state["v"] / (1 - b2**t)
            w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        elif name == "rmsprop":
            alpha, eps, mu = h.get("alpha", 0.99), h.get("eps", 1e-8), h.get("momentum", 0.0)
            state["v"] = alpha * state["v"] + (1 - alpha) * g * g
            step = g / (np.sqrt(state["v"]) + eps)
            if mu:
                state["b"] = mu * state["b"] + step
                step = state["b"]
            w = w - lr * step
        elif name == "adagrad":
            clr = lr / (1 + (t - 1) * h.get("lr_decay", 0.0))
            state["s"] = state["s"] + g * g
            w = w - clr * g / (np.sqrt(state["s"]) + h.get("eps", 1e-10))
        out.append(w.copy())
    return out


CASES = [
    ("sgd", SGD, dict(lr=0.1)),
    ("sgd", SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("sgd", SGD, dict(lr=0.05, momentum=0.8, nesterov=True, l1=0.01)),
    ("adam", Adam, dict(lr=0.01)),
    ("adam", Adam, dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, l1=0.001)),
    ("adamw", AdamW, dict(lr=0.01)),  # PyTorch's default weight_decay 0.01
    ("adamw", AdamW, dict(lr=0.01, weight_decay=0.1, betas=(0.85, 0.995))),
    ("rmsprop", RMSprop, dict(lr=0.01)),
    ("rmsprop", RMSprop, dict(lr=0.005, alpha=0.9, momentum=0.7, weight_decay=0.02)),
    ("adagrad", Adagrad, dict(lr=0.1)),
    ("adagrad", Adagrad, dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1, weight_decay=0.01)),
]


@pytest.mark.parametrize("name, cls, hyper", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_update_rules_follow_their_equations_step_by_step(name, cls, hyper):
    mask = np.array([1, 1, 1, 1, 1, 1, 0, 0], bool)  # the last two are "biases": no penalty
    p = parameter(mask=mask)
    start = p.value.copy()
    optimizer = cls([p], **hyper)
    expected = reference(
        name,
        start,
        gradients(),
        mask=mask.astype(float),
        **({"weight_decay": 0.01} if name == "adamw" and "weight_decay" not in hyper else {}),
        **hyper,
    )
    for step, g in enumerate(gradients()):
        p.grad[:] = g
        optimizer.step()
        np.testing.assert_allclose(p.value, expected[step], rtol=1e-10, atol=1e-12, err_msg=f"step {step + 1}")


@pytest.mark.parametrize(
    "name, cls, hyper",
    [c for c in CASES if "l1" not in c[2]],
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES) if "l1" not in c[2]],
)
def test_update_rules_match_torch_optim(name, cls, hyper):
    torch = pytest.importorskip("torch")
    p = parameter()
    tensor = torch.nn.Parameter(torch.tensor(p.value.copy(), dtype=torch.float64))
    theirs = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
    }[name]([tensor], **hyper)
    ours = cls([p], **hyper)
    for g in gradients():
        p.grad[:] = g
        ours.step()
        tensor.grad = torch.tensor(g, dtype=torch.float64)
        theirs.step()
        np.testing.assert_allclose(p.value, tensor.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_optimizer_defaults_are_pytorchs():
    import inspect

    defaults = {
        name: {
            k: v.default
            for k, v in inspect.signature(cls).parameters.items()
            if v.default is not inspect.Parameter.empty
        }
        for name, cls in [("adam", Adam), ("adamw", AdamW), ("rmsprop", RMSprop), ("adagrad", Adagrad)]
    }
    assert defaults["adam"] == {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
    assert defaults["adamw"]["weight_decay"] == 0.01
    assert defaults["rmsprop"] == {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0}
    assert defaults["adagrad"] == {
        "lr": 0.01,
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
    }


def test_gradient_clipping_by_global_norm():
    a, b = parameter(0), parameter(1)
    a.grad[:], b.grad[:] = 3.0, 4.0  # global norm sqrt(8 * 9 + 8 * 16) = sqrt(200)
    norm = clip_grad_norm([a, b], 1.0)
    assert norm == pytest.approx(np.sqrt(200))
    total = np.sqrt(np.sum(a.grad**2) + np.sum(b.grad**2))
    assert total == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad / b.grad, 0.75)  # the direction is kept
    a.grad[:] = 0.01
    before = a.grad.copy()
    clip_grad_norm([a], 1.0)
    np.testing.assert_array_equal(a.grad, before)  # below the bound: untouched
    # in the optimizer: the step of a clipped gradient, before the L2 term is added
    p = parameter()
    start = p.value.copy()
    p.grad[:] = 10.0
    SGD([p], lr=0.1, max_grad_norm=2.0, weight_decay=0.5).step()
    clipped = 10.0 * 2.0 / (np.sqrt(8 * 100.0) + 1e-6)
    np.testing.assert_allclose(p.value, start - 0.1 * (clipped + 0.5 * start))


def test_gradient_clipping_matches_torch():
    torch = pytest.importorskip("torch")
    p = parameter()
    p.grad[:] = gradients()[0] * 10
    tensor = torch.nn.Parameter(torch.zeros(8, dtype=torch.float64))
    tensor.grad = torch.tensor(p.grad.copy())
    clip_grad_norm([p], 0.5)
    torch.nn.utils.clip_grad_norm_([tensor], 0.5)
    np.testing.assert_allclose(p.grad, tensor.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(betas=(0.9,)), "betas must be two numbers"),
        (dict(betas=(1.0, 0.9)), r"betas\[0\] must be in \[0, 1"),
        (dict(eps=0), "eps must be a finite number > 0"),
        (dict(l1=-1), "l1 must be"),
        (dict(max_grad_norm=0), "max_grad_norm must be a finite number > 0"),
    ],
)
def test_optimizers_refuse_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        Adam([parameter()], **bad)
    with pytest.raises(ValueError, match="alpha must be in"):
        RMSprop([parameter()], alpha=1.5)


# --- the configuration: one vocabulary for the CLI, TOML, tune and the estimator ------------


def test_unset_settings_take_the_optimizers_defaults():
    chapter = TrainingConfig()
    assert (chapter.lr, chapter.weight_decay, chapter.eps) == (0.1, 0.0, None)  # the chapter's
    adamw = TrainingConfig(optimizer="adamw")
    assert (adamw.lr, adamw.weight_decay, adamw.eps, adamw.betas) == (1e-3, 0.01, 1e-8, [0.9, 0.999])
    assert TrainingConfig(optimizer="adagrad").eps == 1e-10
    name, options = optimizer_settings(TrainingConfig(optimizer="rmsprop", momentum=0.5, l1=0.001))
    assert name == "rmsprop" and options == {
        "lr": 0.01,
        "momentum": 0.5,
        "eps": 1e-8,
        "alpha": 0.99,
        "weight_decay": 0.0,
        "l1": 0.001,
        "max_grad_norm": None,
    }


@pytest.mark.parametrize(
    "values, message",
    [
        (
            dict(betas=[0.8, 0.9]),
            "betas = [0.8, 0.9] is invalid: expected its default [0.9, 0.999] unless the optimizer "
            "is 'adam' or 'adamw'",
        ),
        (dict(optimizer="adam", alpha=1e-4), "scikit-learn's alpha, the L2 penalty, is weight_decay here"),
        (dict(eps=1e-6), "eps = 1e-06 is invalid: expected unset for an optimizer without eps (sgd)"),
        (dict(optimizer="adam", momentum=0.9), "0 unless the optimizer is 'sgd' or 'rmsprop'"),
        (
            dict(plateau_patience=3),
            "plateau_patience = 3 is invalid: expected to be given only with schedule 'plateau'",
        ),
        (dict(warmup_epochs=5, epochs=5), "warmup_epochs = 5 is invalid: expected fewer than the epochs"),
        (dict(optimizer="adam", betas=[0.9, 1.0]), "expected a list of 2 numbers, each in [0, 1)"),
        (dict(max_grad_norm=0.0), "max_grad_norm = 0.0 is invalid"),
    ],
)
def test_configuration_rules_name_the_setting(values, message):
    with pytest.raises(ConfigError) as error:
        TrainingConfig(**values)
    assert message in str(error.value)


def test_command_line_toml_and_tune_spell_the_new_settings(tmp_path):
    from neuralnet.cli import build_parser
    from neuralnet.cli.train import config_from_args

    args = build_parser().parse_args(
        [
            "train",
            "--optimizer",
            "adamw",
            "--betas",
            "0.8",
            "0.99",
            "--clip-grad-norm",
            "5",
            "--l1",
            "1e-4",
            "--warmup-epochs",
            "2",
            "--schedule",
            "plateau",
            "--plateau-patience",
            "3",
            "--plateau-factor",
            "0.5",
        ]
    )
    config = config_from_args(args)
    assert config.betas == [0.8, 0.99] and config.max_grad_norm == 5.0 and config.l1 == 1e-4
    assert (config.warmup_epochs, config.plateau_patience, config.plateau_factor) == (2, 3, 0.5)
    assert config.lr == 1e-3 and config.weight_decay == 0.01
    toml = tmp_path / "c.toml"
    toml.write_text('optimizer = "rmsprop"\nalpha = 0.9\nmomentum = 0.5\neps = 1e-6\n')
    from_file = TrainingConfig.from_toml(toml)
    assert (from_file.alpha, from_file.momentum, from_file.eps, from_file.lr) == (0.9, 0.5, 1e-6, 0.01)
    assert parse_value("betas", "0.8,0.99") == [0.8, 0.99]
    assert parse_value("optimizer", "AdamW") == "adamw"
    assert parse_value("betas", "0.8/0.99") == [0.8, 0.99]
    with pytest.raises(ConfigError, match="expected numbers separated by commas"):
        parse_value("betas", "0.8;x")


# --- warm-up and reduce-on-plateau ---------------------------------------------------------


def tiny_problem(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def recorded_rates(trainer) -> list[float]:
    rates, step = [], trainer.optimizer.step

    def spy():
        rates.append(trainer.optimizer.lr)
        step()

    trainer.optimizer.step = spy
    return rates


def test_warmup_raises_the_rate_linearly_step_by_step():
    X, y = tiny_problem()
    config = TrainingConfig(hidden=[8], epochs=4, batch_size=30, warmup_epochs=2, schedule="cosine")
    trainer = build_trainer(config, build_network(config, (4,), 2))
    rates = recorded_rates(trainer)
    trainer.fit(X, y, epochs=4, batch_size=30)
    steps = 2 * 4  # two epochs of four mini-batches
    cosine = [SCHEDULES["cosine"](0.1, epoch, 4) for epoch in range(4)]
    expected = [cosine[k // 4] * (k + 1) / steps for k in range(steps)] + [cosine[2]] * 4 + [cosine[3]] * 4
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert [row["lr"] for row in trainer.history.rows] == pytest.approx(cosine)  # the epoch's rate


def test_warmup_continues_across_fit_calls_as_in_one():
    X, y = tiny_problem()
    config = TrainingConfig(hidden=[8], epochs=3, batch_size=30, warmup_epochs=2, seed=5)
    once = build_trainer(config, build_network(config, (4,), 2))
    once.fit(X, y, epochs=3, batch_size=30)
    twice = build_trainer(config, build_network(config, (4,), 2))
    twice.fit(X, y, epochs=1, batch_size=30)
    twice.fit(X, y, epochs=3, batch_size=30)
    np.testing.assert_array_equal(once.network.flat_values, twice.network.flat_values)


class Rows:
    """A stand-in trainer for a callback fed rows by hand."""

    lr_scale = 1.0


def test_reduce_on_plateau_matches_pytorchs_scheduler():
    losses = [1.0, 0.9, 0.95, 0.93, 0.92, 0.91, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9]
    callback, trainer = ReduceLROnPlateau(patience=2, factor=0.5), Rows()
    ours = []
    for epoch, loss in enumerate(losses, start=1):
        callback.on_epoch_end(trainer, {"epoch": epoch, "lr": 0.1 * trainer.lr_scale, "valid_loss": loss})
        ours.append(0.1 * trainer.lr_scale)
    # PyTorch: reduce when the number of bad epochs exceeds the patience (by hand from its docs)
    assert callback.reductions == [5, 10, 13]
    assert ours[:4] == [0.1] * 4 and ours[4] == pytest.approx(0.05) and ours[-1] == pytest.approx(0.0125)
    torch = pytest.importorskip("torch")
    tensor = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([tensor], lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=2, factor=0.5)
    theirs = []
    for loss in losses:
        scheduler.step(loss)
        theirs.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_reduce_on_plateau_state_survives_a_checkpoint():
    callback = ReduceLROnPlateau(patience=1)
    for epoch, loss in enumerate([1.0, 1.1, 1.2], start=1):
        callback.on_epoch_end(Rows(), {"epoch": epoch, "lr": 0.1, "valid_loss": loss})
    again = ReduceLROnPlateau(patience=1)
    again.load_state_dict(callback.state_dict())
    trainer = Rows()
    again.on_train_begin(trainer)
    assert trainer.lr_scale == pytest.approx(0.1) and again.reductions == [3] and again.best == 1.0


def test_plateau_schedule_lowers_the_rate_and_evaluates_synchronously():
    """Validated on the opposite labels, the validation loss rises as training goes on: the rate
    drops by the factor after patience + 1 bad epochs; the evaluation of an epoch always comes
    before the next one trains (the history is the same with and without a second thread)."""
    from neuralnet.runs.builder import build_callbacks

    X, y = tiny_problem(200)
    config = TrainingConfig(
        hidden=[8], epochs=8, batch_size=20, lr=0.5, schedule="plateau", plateau_patience=1, plateau_factor=0.5, seed=2
    )
    histories = []
    for asynchronous in (True, False):
        trainer = build_trainer(config, build_network(config, (4,), 2))
        callbacks = build_callbacks(config)
        assert list(callbacks) == ["reduce_lr_on_plateau"]
        trainer.fit(
            X,
            y,
            epochs=8,
            batch_size=20,
            X_valid=X,
            y_valid=1 - y,
            callbacks=list(callbacks.values()),
            asynchronous_evaluation=asynchronous,
            threads=1,
        )
        histories.append([{k: v for k, v in row.items() if k != "seconds"} for row in trainer.history.rows])
        plateau = callbacks["reduce_lr_on_plateau"]
        rates = [row["lr"] for row in trainer.history.rows]
        assert plateau.reductions and rates[0] == 0.5
        for epoch in plateau.reductions:  # the epoch after a reduction runs at half the rate
            if epoch < 8:
                assert rates[epoch] == pytest.approx(rates[epoch - 1] * 0.5)
    assert histories[0] == histories[1]


# --- sample and class weights ----------------------------------------------------------------


def test_weight_two_equals_the_example_repeated_with_full_batch_sgd():
    X, y = tiny_problem(40)
    weights = np.ones(len(y))
    weights[[3, 7, 20]] = 2.0
    repeated = np.concatenate([np.arange(40), [3, 7, 20]])
    common = dict(
        hidden_layer_sizes=(6,),
        optimizer="sgd",
        momentum=0.0,
        learning_rate=0.5,
        batch_size=1000,
        max_iter=25,
        random_state=0,
        dtype="float64",
    )
    weighted = MLPClassifier(**common).fit(X, y, sample_weight=weights)
    copies = MLPClassifier(**common).fit(X[repeated], y[repeated])
    np.testing.assert_allclose(weighted.network_.flat_values, copies.network_.flat_values, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, copies.loss_curve_, rtol=1e-10)
    regressor = dict(common, learning_rate=0.05)
    targets = X[:, :2].astype(np.float64)
    w = MLPRegressor(**regressor).fit(X, targets, sample_weight=weights)
    r = MLPRegressor(**regressor).fit(X[repeated], targets[repeated])
    np.testing.assert_allclose(w.predict(X), r.predict(X), rtol=1e-9, atol=1e-12)


def test_zero_weights_are_ignored_and_score_takes_weights():
    X, y = tiny_problem(60)
    weights = np.ones(60)
    weights[:20] = 0.0
    common = dict(
        hidden_layer_sizes=(6,),
        optimizer="sgd",
        momentum=0.0,
        learning_rate=0.5,
        batch_size=1000,
        max_iter=10,
        random_state=0,
        dtype="float64",
    )
    dropped = MLPClassifier(**common).fit(X, y, sample_weight=weights)
    only_rest = MLPClassifier(**common).fit(X[20:], y[20:])
    np.testing.assert_allclose(dropped.network_.flat_values, only_rest.network_.flat_values, rtol=1e-10, atol=1e-12)
    assert dropped.score(X, y, sample_weight=weights) == only_rest.score(X[20:], y[20:])


def test_class_weight_balanced_and_dict_are_sample_weights():
    X, y = tiny_problem(90)
    y[:60] = 0  # imbalanced
    common = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=1, batch_size=16)
    balanced = MLPClassifier(class_weight="balanced", **common).fit(X, y)
    by_hand = MLPClassifier(**common).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_array_equal(balanced.network_.flat_values, by_hand.network_.flat_values)
    as_dict = MLPClassifier(class_weight={0: 1.0, 1: 3.0}, **common).fit(X, y, sample_weight=np.full(90, 0.5))
    manual = MLPClassifier(**common).fit(X, y, sample_weight=np.where(y == 1, 1.5, 0.5))
    np.testing.assert_array_equal(as_dict.network_.flat_values, manual.network_.flat_values)
    with pytest.raises(ValueError, match="class_weight='balanced' needs every class's count"):
        MLPClassifier(class_weight="balanced", **common).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"class_weight names the classes \[7\]"):
        MLPClassifier(class_weight={7: 2.0}, **common).fit(X, y)
    with pytest.raises(ValueError, match="only the class"):
        MLPClassifier(**common).fit(X, y, sample_weight=(y == 0).astype(float))


def test_validation_loss_curve_and_user_callbacks():
    X, y = load_iris(return_X_y=True)

    class Seen(Callback):
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, trainer, row):
            self.epochs.append(row["epoch"])
            return row["epoch"] >= 4  # a user callback may stop training too

    seen = Seen()
    model = MLPClassifier((8,), max_iter=30, early_stopping=True, random_state=0, callbacks=[seen]).fit(X, y)
    assert seen.epochs == [1, 2, 3, 4] and model.n_iter_ == 4
    assert len(model.validation_loss_curve_) == len(model.validation_scores_) == 4
    assert all(np.isfinite(model.validation_loss_curve_))
    assert MLPClassifier((8,), max_iter=2).fit(X, y).validation_loss_curve_ is None
    with pytest.raises(TypeError, match="callbacks must be neuralnet callbacks"):
        MLPClassifier(max_iter=1, callbacks=[print]).fit(X, y)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_trains_the_estimator(optimizer):
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    lr = {"sgd": 0.1, "adagrad": 0.1}.get(optimizer, 0.01)
    model = MLPClassifier(
        (16,),
        optimizer=optimizer,
        learning_rate=lr,
        max_iter=60,
        random_state=0,
        max_grad_norm=5.0,
        warmup_epochs=2,
        schedule="plateau",
    ).fit(X, y)
    assert model.score(X, y) > 0.9
    assert model.get_params()["rmsprop_alpha"] == 0.99


# --- seeing a model --------------------------------------------------------------------------


def test_summary_of_the_chapter_network_and_a_cnn():
    chapter = build_network(TrainingConfig(), (784,), 10)
    text = chapter.summary()
    assert "Dense(784 -> 50)" in text and "39,250" in text and "Trainable parameters: 39,760" in text
    assert [row["parameters"] for row in chapter.summary_rows()] == [39250, 0, 510, 0]
    cnn = build_network(
        TrainingConfig(layers="conv2d(8, 3, padding=1), batchnorm, relu, maxpool2d(2), flatten", loss="cross-entropy"),
        (1, 28, 28),
        10,
    )
    rows = cnn.summary_rows()
    assert rows[0]["output_shape"] == [8, 28, 28] and rows[0]["parameters"] == 8 * 9 + 8
    assert rows[1]["parameters"] == 16 and rows[1]["non_trainable"] == 16
    assert rows[3]["output_shape"] == [8, 14, 14] and rows[-1]["parameters"] == 8 * 14 * 14 * 10 + 10
    assert "Non-trainable parameters: 16" in cnn.summary()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("toolkit-runs")
    assert (
        main(
            [
                "train",
                "--limit",
                "1400",
                "--epochs",
                "3",
                "--hidden",
                "16",
                "--data-dir",
                str(data_dir),
                "--out",
                str(out),
                "--no-progress",
                "--no-figures",
                "--tensorboard",
            ]
        )
        == 0
    )
    (folder,) = list(out.iterdir())
    return folder


def test_neuralnet_summary_and_train_print_the_table(small_run, capsys, data_dir, tmp_path):
    assert main(["summary", str(small_run)]) == 0
    text = capsys.readouterr().out
    assert "Dense(784 -> 16)" in text and "Trainable parameters: 12,730" in text and "Test accuracy:" in text
    assert main(["summary", str(small_run), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    assert sum(row["parameters"] for row in rows) == 784 * 16 + 16 + 16 * 10 + 10
    assert (
        main(
            [
                "train",
                "--limit",
                "700",
                "--epochs",
                "1",
                "--data-dir",
                str(data_dir),
                "--out",
                str(tmp_path),
                "--no-progress",
                "--no-figures",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.index("Trainable parameters: 39,760") < printed.index("Epoch: 001/001")
    (folder,) = list(tmp_path.iterdir())
    assert "Trainable" not in (folder / "log.txt").read_text()  # the log file stays the chapter's


def test_history_is_written_after_every_epoch(tmp_path, data_dir, monkeypatch):
    def crash_in_the_third(base, epoch, epochs):
        if epoch == 2:
            raise RuntimeError("power cut")
        return base

    monkeypatch.setitem(SCHEDULES, "crash", crash_in_the_third)
    # two BLAS threads for the loop: each epoch is evaluated before the next one trains, so the rows
    # of epochs 1 and 2 have arrived when epoch 3 crashes (with the evaluation on a second thread,
    # how many had arrived would depend on the machine's load)
    config = TrainingConfig(limit=1400, epochs=5, hidden=[16], schedule="crash", threads=2)
    with pytest.raises(RuntimeError, match="power cut"):
        train_run(config, data_dir=data_dir, out=tmp_path, log=None, progress=False, figures=False)
    (folder,) = list(tmp_path.iterdir())
    epochs = [row["epoch"] for row in json.loads((folder / "history.json").read_text())]
    assert epochs == [1, 2]
    assert (folder / "history.csv").read_text().count("\n") == 1 + len(epochs)  # the header and the rows
    assert (folder / "log.txt").read_text().splitlines()[-1].startswith(f"Epoch: {epochs[-1]:03d}/005")


def read_events(folder: Path) -> list:
    """The events of a folder's TensorBoard files (TFRecord framing: length, its CRC, the
    record, its CRC)."""
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            record = data[offset + 12 : offset + 12 + length]
            events.append(event_pb2.Event.FromString(record))
            offset += 12 + length + 4
    return events


def test_tensorboard_logs_scalars_and_histograms(small_run):
    pytest.importorskip("tensorboardX")
    events = read_events(small_run / "tensorboard")
    scalars: dict[str, dict[int, float]] = {}
    histograms: dict[str, set] = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("histo"):
                histograms.setdefault(value.tag, set()).add(event.step)
                assert value.histo.num > 0
            else:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    history = json.loads((small_run / "history.json").read_text())
    for tag, column in [("loss/train", "train_loss"), ("accuracy/valid", "valid_acc"), ("lr", "lr")]:
        assert sorted(scalars[tag]) == [1, 2, 3]
        np.testing.assert_allclose([scalars[tag][e] for e in (1, 2, 3)], [row[column] for row in history], rtol=1e-6)
    for name in ("layers.0.weight", "layers.0.bias", "layers.2.weight"):
        assert histograms[f"weights/{name}"] == {1, 2, 3} and histograms[f"gradients/{name}"] == {1, 2, 3}


# --- progress with a rate and the time left -------------------------------------------------


def test_training_progress_shows_the_runs_time_left(capsys):
    X, y = tiny_problem(600)
    config = TrainingConfig(hidden=[8], epochs=3, batch_size=10)
    trainer = build_trainer(config, build_network(config, (4,), 2))
    trainer.fit(X, y, epochs=3, batch_size=10, progress=True)
    err = capsys.readouterr().err
    assert "Epoch 003/003" in err and "batch/s" in err and "run: 00:00 left" in err


def test_tune_progress_bar_counts_every_fit(capsys):
    from neuralnet.tune import SearchSpace, run_search

    X, y = load_iris(return_X_y=True)
    space = SearchSpace(grid={"hidden": [[4], [8]], "epochs": [2]}, cv=2)
    run_search(space, X, y, n_jobs=1, progress=True)
    err = capsys.readouterr().err
    assert "Cross-validation fits" in err and "4/4" in err and "fit/s" in err


def test_evaluation_with_a_progress_bar_gives_the_same_numbers():
    from neuralnet.training.data import prepare_targets
    from neuralnet.training.metrics import evaluate

    X, y = tiny_problem(300)
    network = build_network(TrainingConfig(hidden=[8]), (4,), 2)
    Y, labels = prepare_targets(network, y)
    assert evaluate(network, X, Y, labels, 64, progress=True) == evaluate(network, X, Y, labels, 64)


# --- the bridge to PyTorch ------------------------------------------------------------------


def test_to_torch_gives_the_same_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    from neuralnet.serving.torch_export import export_torch, to_torch

    rng = np.random.default_rng(0)
    for config, shape in [
        (TrainingConfig(), (784,)),
        (
            TrainingConfig(
                layers="conv2d(6, 5, padding=2), batchnorm, leaky_relu, maxpool2d(2), conv2d(8, 3, stride=2), "
                "tanh, avgpool2d(2), flatten, dense(32), relu, dropout(0.3), dense(16), batchnorm",
                loss="cross-entropy",
                shift=2,
                seed=3,
            ),
            (1, 28, 28),
        ),
    ]:
        network = build_network(config, shape, 10)
        for layer in network.layers:  # running statistics that are not the initial ones
            if hasattr(layer, "running_var"):
                layer.running_mean[:] = rng.normal(size=layer.running_mean.shape) * 0.1
                layer.running_var[:] = rng.uniform(0.5, 2.0, size=layer.running_var.shape)
        x = rng.uniform(-1, 1, size=(20, *shape)).astype(np.float32)
        model = to_torch(network)
        ours = network.predict_output(x)
        theirs = model(torch.from_numpy(x)).detach().numpy()
        assert np.abs(ours - theirs).max() < 1e-5
        path = export_torch(network, tmp_path / f"model{len(shape)}.pt2")
        loaded = torch.export.load(str(path)).module()
        np.testing.assert_allclose(loaded(torch.from_numpy(x[:7])).detach().numpy(), ours[:7], atol=1e-5)
        with pytest.raises(FileExistsError):
            export_torch(network, path)


def test_export_torch_from_the_command_line_and_train_on_in_pytorch(small_run, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from neuralnet import load, to_torch

    assert main(["export", str(small_run), "--torch", str(tmp_path / "m.pt2")]) == 0
    assert "PyTorch program written to" in capsys.readouterr().out
    predictor = load(small_run)
    pixels = np.random.default_rng(1).integers(0, 256, size=(5, 784)).astype(np.uint8)
    inputs = torch.from_numpy(predictor.preprocess(pixels))
    exported = torch.export.load(str(tmp_path / "m.pt2")).module()
    np.testing.assert_allclose(exported(inputs).detach().numpy(), predictor.predict_proba(pixels), atol=1e-5)
    model = to_torch(small_run).train()  # its life goes on in PyTorch: one step lowers the loss
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    targets = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 4]), 10).float()
    before = torch.mean((model(inputs) - targets) ** 2)
    before.backward()
    optimizer.step()
    assert torch.mean((model(inputs) - targets) ** 2) < before
    assert main(["export", str(small_run)]) == 2


def test_the_pytorch_example_trains_the_chapters_run_on(small_run, data_dir):
    pytest.importorskip("torch")
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "examples" / "chapter_in_pytorch.py"
    done = subprocess.run(
        [sys.executable, str(script), str(small_run), "--data-dir", str(data_dir), "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    before = float(lines[-2].rsplit(" ", 1)[1].rstrip("%"))
    after = float(lines[-1].rsplit(" ", 1)[1].rstrip("%"))
    metrics = json.loads((small_run / "metrics.json").read_text())
    assert before == pytest.approx(metrics["test_acc"] * 100, abs=0.006) and after > before - 5
