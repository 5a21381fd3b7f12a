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


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    hidden: tuple[int, ...]
    activation: str                 # "sigmoid" or "relu"
    loss: str                       # "mse" (sigmoid outputs) or "cross-entropy" (softmax)
    init: str                       # neuralnet's initializer: "normal" (the chapter's) or "he"
    dropout: float
    optimizer: str                  # "sgd" or "adam"
    lr: float
    batch_size: int
    epochs: int
    evaluated: tuple[str, ...]      # data sets evaluated after every epoch
    seed: int = 123

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (N_FEATURES, *self.hidden, N_CLASSES)

    def with_changes(self, **changes) -> Workload:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Workload:
        data = dict(data)
        data["hidden"] = tuple(data["hidden"])
        data["evaluated"] = tuple(data["evaluated"])
        return cls(**data)


CHAPTER = Workload(
    name="chapter", title="The chapter's network: 784-50-10 sigmoid, MSE, SGD 0.1, batch 100",
    hidden=(50,), activation="sigmoid", loss="mse", init="normal", dropout=0.0,
    optimizer="sgd", lr=0.1, batch_size=100, epochs=50, evaluated=("train", "valid"))

DEEP = Workload(
    name="deep", title="A deep network: 784-512-256-10 ReLU, dropout 0.2, softmax cross-entropy, "
                       "Adam 1e-3, batch 128",
    hidden=(512, 256), activation="relu", loss="cross-entropy", init="he", dropout=0.2,
    optimizer="adam", lr=1e-3, batch_size=128, epochs=20, evaluated=("test",))

WORKLOADS = {workload.name: workload for workload in (CHAPTER, DEEP)}

#: epochs per workload in --quick mode (3 for the chapter: memory growth is measured from epoch 2)
QUICK_EPOCHS = {"chapter": 3, "deep": 1}
