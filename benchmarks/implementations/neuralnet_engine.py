"""neuralnet, driven through its public API the way ``neuralnet train`` drives it.

``TrainingConfig`` -> ``architecture_for`` -> ``build_mlp`` -> ``make_trainer`` ->
``Trainer.fit`` with the evaluated sets, as ``neuralnet.runs.experiment.train_run`` does (it
also writes a run folder, which is left out here). The initial weights are the ones
``build_mlp`` draws from the seed; they are the weights every other implementation is
given.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from neuralnet.engine.network import Network
from neuralnet.runs.builder import build_network as build_from_config
from neuralnet.runs.builder import build_trainer
from neuralnet.runs.config import TrainingConfig

from .shared_data import Arrays
from .workloads import IMAGE_SHAPE, N_CLASSES, N_FEATURES, Workload


def describe(workload: Workload) -> str:
    return "public API as `neuralnet train` runs it (TrainingConfig, build_network, build_trainer, Trainer.fit)"


def training_config(workload: Workload) -> TrainingConfig:
    if workload.layers is not None:
        return TrainingConfig(
            layers=workload.layers,
            loss=workload.loss,
            init=workload.init,
            optimizer=workload.optimizer,
            lr=workload.lr,
            batch_size=workload.batch_size,
            epochs=workload.epochs,
            seed=workload.seed,
        )
    return TrainingConfig(
        hidden=list(workload.hidden),
        activation=workload.activation,
        loss=workload.loss,
        init=workload.init,
        dropout=workload.dropout,
        optimizer=workload.optimizer,
        lr=workload.lr,
        batch_size=workload.batch_size,
        epochs=workload.epochs,
        seed=workload.seed,
    )


def build_network(workload: Workload) -> Network:
    config = training_config(workload)
    return build_from_config(config, IMAGE_SHAPE if workload.layers else (N_FEATURES,), N_CLASSES)


def initial_weights(workload: Workload) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) of each layer with weights (Dense: W [n_out, n_in]; Conv2D: W [out, in, kh, kw]), in order,
    as the builder draws them."""
    state = build_network(workload).state_dict()
    weights = [name for name in state if name.endswith(".weight")]
    return [(state[name], state[name[: -len("weight")] + "bias"]) for name in weights]


def _other_set(workload: Workload) -> str | None:
    """The set Trainer.fit evaluates as "valid" (it evaluates the training set and at most one other)."""
    others = [name for name in workload.evaluated if name != "train"]
    if len(others) > 1:
        raise ValueError(f"Trainer.fit evaluates at most one set besides the training set, got {others}")
    return others[0] if others else None


def _fit_evaluation_arguments(workload: Workload, arrays: Arrays) -> dict:
    other = _other_set(workload)
    X_other, y_other = arrays.evaluation_set(other) if other else (None, None)
    return {"evaluate_train": "train" in workload.evaluated, "X_valid": X_other, "y_valid": y_other}


def _epoch_metrics(row: dict, workload: Workload) -> dict:
    """A history row's loss and accuracy, named after the sets they were measured on."""
    metrics = {}
    if "train" in workload.evaluated:
        metrics.update(train_loss=row["train_loss"], train_acc=row["train_acc"])
    other = _other_set(workload)
    if other:
        metrics.update({f"{other}_loss": row["valid_loss"], f"{other}_acc": row["valid_acc"]})
    return metrics


def train(workload: Workload, arrays: Arrays, weights, on_epoch: Callable[[int, int, dict], None]) -> dict:
    """Train as `neuralnet train` does; ``weights`` are not needed: build_mlp draws the same ones."""
    config = training_config(workload)
    network = build_network(workload)
    trainer = build_trainer(config, network)
    evaluation = _fit_evaluation_arguments(workload, arrays)
    started = time.perf_counter()
    history = trainer.fit(
        arrays.X_train,
        arrays.y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        progress=False,
        threads=config.threads,
        log=lambda row: on_epoch(row["epoch"], config.epochs, _epoch_metrics(row, workload)),
        **evaluation,
    )
    seconds = time.perf_counter() - started
    n_train = arrays.X_train.shape[0]
    return {
        "seconds": seconds,
        "epoch_seconds": history["seconds"],
        "epochs": len(history),
        "test_acc": float(np.mean(network.predict(arrays.X_test) == arrays.y_test)),
        "examples_trained_per_epoch": n_train - n_train % config.batch_size,  # drop_last
        "examples_evaluated_per_epoch": arrays.count(workload.evaluated),
    }


def make_predictor(workload: Workload, weights, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    return build_network(workload).predict_proba
