"""scikit-learn's MLPClassifier: the closest configuration it can express.

What it cannot express, and what runs instead:

* MSE on sigmoid outputs (the chapter's network): a classifier always has a softmax
  output trained with the log-loss, so the chapter's workload runs with logistic hidden
  units and a softmax/log-loss output: the same matrix products, a different loss;
* dropout: not available, the deep workload runs without it;
* the initial weights and the shuffling order: its own (Glorot-uniform, its own RNG);
* the last partial mini-batch is kept (neuralnet and PyTorch drop it).

One ``partial_fit`` is one epoch; after each, the evaluated sets are predicted, as the
other implementations evaluate them.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.neural_network import MLPClassifier

from .shared_data import Arrays
from .workloads import N_CLASSES, Workload

ACTIVATIONS = {"sigmoid": "logistic", "relu": "relu"}


def describe(workload: Workload) -> str:
    differences = []
    if workload.loss == "mse":
        differences.append("softmax + log-loss output instead of sigmoid + MSE (not expressible)")
    if workload.dropout:
        differences.append("no dropout (not available)")
    differences.append("own init and shuffling, keeps the last partial batch")
    return "closest expressible: " + "; ".join(differences)


def make_classifier(workload: Workload) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=workload.hidden,
        activation=ACTIVATIONS[workload.activation],
        solver=workload.optimizer,
        learning_rate_init=workload.lr,
        learning_rate="constant",
        batch_size=workload.batch_size,
        alpha=0.0,
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=True,
        random_state=workload.seed,
        max_iter=workload.epochs,
    )


def _log_loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    picked = probabilities[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.maximum(picked, np.finfo(probabilities.dtype).tiny))))


def evaluate(classifier: MLPClassifier, X: np.ndarray, y: np.ndarray) -> dict:
    probabilities = classifier.predict_proba(X)
    return {"loss": _log_loss(probabilities, y), "acc": float(np.mean(probabilities.argmax(1) == y))}


def train(workload: Workload, arrays: Arrays, weights, on_epoch: Callable[[int, int, dict], None]) -> dict:
    """One partial_fit per epoch, then the evaluation; ``weights`` cannot be given to MLPClassifier."""
    classifier = make_classifier(workload)
    classes = np.arange(N_CLASSES)
    epoch_seconds = []
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: the epochs are fixed on purpose
        for epoch in range(1, workload.epochs + 1):
            epoch_started = time.perf_counter()
            classifier.partial_fit(arrays.X_train, arrays.y_train, classes=classes)
            epoch_seconds.append(time.perf_counter() - epoch_started)
            metrics = {}
            for name in workload.evaluated:
                result = evaluate(classifier, *arrays.evaluation_set(name))
                metrics.update({f"{name}_loss": result["loss"], f"{name}_acc": result["acc"]})
            on_epoch(epoch, workload.epochs, metrics)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "epochs": workload.epochs,
        "test_acc": float(np.mean(classifier.predict(arrays.X_test) == arrays.y_test)),
        "examples_trained_per_epoch": arrays.X_train.shape[0],
        "examples_evaluated_per_epoch": arrays.count(workload.evaluated),
    }
