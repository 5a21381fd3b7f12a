"""The training configurations the harness compares, and the work each one does.

A ``Workload`` names everything that decides how much arithmetic a training run does
and what it learns: the layer sizes, activation, loss, optimizer, mini-batch size,
epochs and which data sets are evaluated after every epoch. Every implementation reads
the same ``Workload`` and translates it into its own library's terms.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

N_FEATURES = 784
N_CLASSES = 10
IMAGE_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    hidden: tuple[int, ...]
    activation: str  # "sigmoid" or "relu"
    loss: str  # "mse" (sigmoid outputs) or "cross-entropy" (softmax)
    init: str  # neuralnet's initializer: "normal" (the chapter's) or "he"
    dropout: float
    optimizer: str  # "sgd" or "adam"
    lr: float
    batch_size: int
    epochs: int
    evaluated: tuple[str, ...]  # data sets evaluated after every epoch
    seed: int = 123
    layers: str | None = None  # a stack in neuralnet's short syntax (a convolutional network), or None

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """Units per layer of a multilayer perceptron (input, hidden, classes)."""
        return (N_FEATURES, *self.hidden, N_CLASSES)

    @property
    def label(self) -> str:
        """The network in a few characters: 784-50-10, or the workload's name for a stack."""
        return "-".join(map(str, self.layer_sizes)) if self.layers is None else f"{self.name} ({self.layers})"

    @property
    def products(self) -> list[int]:
        """2 x the multiply-adds of each layer's forward product, per example (see flops.py)."""
        if self.layers is None:
            return [2 * n_in * n_out for n_in, n_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:])]
        from neuralnet.engine.conv import Conv2D
        from neuralnet.engine.layers import Dense
        from neuralnet.engine.network import build_network
        from neuralnet.engine.specs import parse_layers

        network = build_network([*parse_layers(self.layers), {"type": "Dense", "n_out": N_CLASSES}], IMAGE_SHAPE)
        shapes = [network.input_shape, *network.layer_shapes[:-1]]
        return [
            2 * (layer.multiply_adds(shape) if isinstance(layer, Conv2D) else layer.n_in * layer.n_out)
            for layer, shape in zip(network.layers, shapes)
            if isinstance(layer, (Conv2D, Dense))
        ]

    def with_changes(self, **changes) -> Workload:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Workload:
        data = dict(data)
        data["hidden"] = tuple(data["hidden"])
        data["evaluated"] = tuple(data["evaluated"])
        data.setdefault("layers", None)
        return cls(**data)


CHAPTER = Workload(
    name="chapter",
    title="The chapter's network: 784-50-10 sigmoid, MSE, SGD 0.1, batch 100",
    hidden=(50,),
    activation="sigmoid",
    loss="mse",
    init="normal",
    dropout=0.0,
    optimizer="sgd",
    lr=0.1,
    batch_size=100,
    epochs=50,
    evaluated=("train", "valid"),
)

DEEP = Workload(
    name="deep",
    title="A deep network: 784-512-256-10 ReLU, dropout 0.2, softmax cross-entropy, Adam 1e-3, batch 128",
    hidden=(512, 256),
    activation="relu",
    loss="cross-entropy",
    init="he",
    dropout=0.2,
    optimizer="adam",
    lr=1e-3,
    batch_size=128,
    epochs=20,
    evaluated=("test",),
)

CNN = Workload(
    name="cnn",
    title="A convolutional network (recipes/mnist-cnn.toml's): conv 32 5x5, pool, conv 64 5x5, pool, "
    "dense 512, dropout 0.5, softmax cross-entropy, Adam 1e-3, batch 128",
    hidden=(),
    activation="relu",
    loss="cross-entropy",
    init="he",
    dropout=0.0,
    optimizer="adam",
    lr=1e-3,
    batch_size=128,
    epochs=2,
    evaluated=("test",),
    layers="conv2d(32, 5, padding=2), relu, maxpool2d(2), conv2d(64, 5, padding=2), relu, maxpool2d(2), flatten, "
    "dense(512), relu, dropout(0.5)",  # the named stack "cnn"
)

WORKLOADS = {workload.name: workload for workload in (CHAPTER, DEEP, CNN)}

#: epochs per workload in --quick mode (3 for the chapter: memory growth is measured from epoch 2)
QUICK_EPOCHS = {"chapter": 3, "deep": 1, "cnn": 1}
