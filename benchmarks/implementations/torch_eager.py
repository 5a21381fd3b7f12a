"""PyTorch eager on the CPU: the same network, loss, optimizer, initial weights and order.

The idiomatic fast eager loop: the whole training set is one tensor (shared with NumPy,
no copy), each mini-batch is gathered by indexing it with the epoch's shuffled order,
then ``zero_grad``, forward, loss, ``backward``, ``step``. No DataLoader (it collates
example by example and would only make PyTorch look slower). The shuffled order is
drawn exactly as neuralnet draws it (``np.random.RandomState(seed).shuffle`` of
``arange(n)``, once per epoch), and the initial weights are neuralnet's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .shared_data import Arrays
from .workloads import Workload

EVAL_BATCH_SIZE = 10_000  # as neuralnet's Trainer evaluates
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def describe(workload: Workload) -> str:
    parts = [
        "nn.Sequential",
        f"{'chapter MSE' if workload.loss == 'mse' else 'CrossEntropyLoss'}",
        f"torch.optim.{OPTIMIZERS[workload.optimizer].__name__}",
        "neuralnet's initial weights",
    ]
    parts.append(
        "its own dropout masks"
        if workload.dropout or "dropout" in (workload.layers or "")
        else "neuralnet's shuffling order"
    )
    return ", ".join(parts)


def chapter_mse(output: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """The chapter's loss: squared error summed over the classes, averaged over the examples."""
    return ((output - onehot) ** 2).sum(1).mean()


def _stack_modules(workload: Workload) -> list[nn.Module]:
    """The workload's layer stack as PyTorch modules, read from neuralnet's specs of it (the same
    shapes, so neuralnet's initial weights fit)."""
    from .neuralnet_engine import build_network

    modules: list[nn.Module] = [nn.Unflatten(1, (1, 28, 28))]  # the rows of pixels, as images
    for spec in build_network(workload).specs():
        kind = spec["type"]
        if kind == "Conv2D":
            modules.append(
                nn.Conv2d(
                    spec["in_channels"],
                    spec["out_channels"],
                    tuple(spec["kernel_size"]),
                    tuple(spec["stride"]),
                    tuple(spec["padding"]),
                )
            )
        elif kind == "MaxPool2D":
            modules.append(nn.MaxPool2d(tuple(spec["kernel_size"]), tuple(spec["stride"]), tuple(spec["padding"])))
        elif kind == "Flatten":
            modules.append(nn.Flatten())
        elif kind == "Dense":
            modules.append(nn.Linear(spec["n_in"], spec["n_out"]))
        elif kind == "Dropout":
            modules.append(nn.Dropout(spec["p"]))
        elif kind == "Activation":
            modules.append(ACTIVATIONS[spec["name"]]())
        else:
            raise ValueError(f"no PyTorch module for {kind} here")
    return modules


def build_model(workload: Workload, weights=None) -> nn.Sequential:
    """Linear, activation (, Dropout) per hidden layer, then Linear (and Sigmoid for MSE); or the
    layer stack of a convolutional workload."""
    sizes = workload.layer_sizes
    layers: list[nn.Module] = []
    if workload.layers is not None:
        model = nn.Sequential(*_stack_modules(workload))
        if weights is not None:
            _copy_weights(model, weights)
        return model
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[workload.activation]()]
        if workload.dropout:
            layers.append(nn.Dropout(workload.dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    if workload.loss == "mse":
        layers.append(nn.Sigmoid())
    model = nn.Sequential(*layers)
    if weights is not None:
        _copy_weights(model, weights)
    return model


def _copy_weights(model: nn.Sequential, weights) -> None:
    """neuralnet's weights, layer by layer, into the Linear and Conv2d modules (the same layouts)."""
    with_weights = [layer for layer in model if isinstance(layer, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        for module, (weight, bias) in zip(with_weights, weights, strict=True):
            module.weight.copy_(torch.from_numpy(weight))  # [n_out, n_in], or [out, in, kh, kw]
            module.bias.copy_(torch.from_numpy(bias))


def _targets(workload: Workload, y: np.ndarray) -> torch.Tensor:
    """One-hot rows for the MSE, class indices for the cross-entropy."""
    labels = torch.from_numpy(y.astype(np.int64))
    return F.one_hot(labels, workload.layer_sizes[-1]).float() if workload.loss == "mse" else labels


def _loss_function(workload: Workload):
    return chapter_mse if workload.loss == "mse" else F.cross_entropy


def _probabilities(workload: Workload, output: torch.Tensor) -> torch.Tensor:
    return output if workload.loss == "mse" else torch.softmax(output, dim=1)


@torch.inference_mode()
def evaluate(
    model: nn.Module, workload: Workload, X: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor
) -> dict:
    """Mean loss and accuracy over all of X, in batches of EVAL_BATCH_SIZE."""
    model.eval()
    loss_function = _loss_function(workload)
    loss_total, correct = 0.0, 0
    for start in range(0, X.shape[0], EVAL_BATCH_SIZE):
        stop = start + EVAL_BATCH_SIZE
        output = model(X[start:stop])
        loss_total += float(loss_function(output, targets[start:stop])) * output.shape[0]
        correct += int((output.argmax(1) == labels[start:stop]).sum())
    return {"loss": loss_total / X.shape[0], "acc": correct / X.shape[0]}


def _evaluation_tensors(workload: Workload, X: np.ndarray, y: np.ndarray):
    """(inputs, loss targets, labels) of one evaluated set."""
    return torch.from_numpy(X), _targets(workload, y), torch.from_numpy(y.astype(np.int64))


def train_step(model, optimizer, loss_function, X, targets, batch) -> None:
    """One mini-batch: the rows ``batch`` of X gathered, zero_grad, forward, loss, backward, step."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_function(model(X[batch]), targets[batch])
    loss.backward()
    optimizer.step()


def _train_one_epoch(model, optimizer, loss_function, X, targets, order, batch_size) -> None:
    model.train()
    stop = X.shape[0] - X.shape[0] % batch_size  # drop the last partial batch, as neuralnet does
    for start in range(0, stop, batch_size):
        train_step(model, optimizer, loss_function, X, targets, order[start : start + batch_size])


def train(workload: Workload, arrays: Arrays, weights, on_epoch: Callable[[int, int, dict], None]) -> dict:
    model = build_model(workload, weights)
    optimizer = OPTIMIZERS[workload.optimizer](model.parameters(), lr=workload.lr)
    loss_function = _loss_function(workload)
    X, targets = torch.from_numpy(arrays.X_train), _targets(workload, arrays.y_train)
    evaluated = {name: _evaluation_tensors(workload, *arrays.evaluation_set(name)) for name in workload.evaluated}
    rng = np.random.RandomState(workload.seed)  # neuralnet's shuffling RNG
    epoch_seconds = []
    started = time.perf_counter()
    for epoch in range(1, workload.epochs + 1):
        epoch_started = time.perf_counter()
        order = np.arange(X.shape[0])
        rng.shuffle(order)
        _train_one_epoch(model, optimizer, loss_function, X, targets, torch.from_numpy(order), workload.batch_size)
        epoch_seconds.append(time.perf_counter() - epoch_started)
        metrics = {}
        for name, tensors in evaluated.items():
            result = evaluate(model, workload, *tensors)
            metrics.update({f"{name}_loss": result["loss"], f"{name}_acc": result["acc"]})
        on_epoch(epoch, workload.epochs, metrics)
    seconds = time.perf_counter() - started
    predict = make_predictor(workload, None, None, model=model)
    n_train = arrays.X_train.shape[0]
    return {
        "seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "epochs": workload.epochs,
        "test_acc": float(np.mean(predict(arrays.X_test).argmax(1) == arrays.y_test)),
        "examples_trained_per_epoch": n_train - n_train % workload.batch_size,
        "examples_evaluated_per_epoch": arrays.count(workload.evaluated),
    }


def make_predictor(
    workload: Workload, weights, threads, model: nn.Module | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """predict_proba for NumPy arrays: probabilities [n, classes] as a NumPy array."""
    model = build_model(workload, weights) if model is None else model
    model.eval()

    @torch.inference_mode()
    def predict_proba(X: np.ndarray) -> np.ndarray:
        return _probabilities(workload, model(torch.from_numpy(X))).numpy()

    return predict_proba
