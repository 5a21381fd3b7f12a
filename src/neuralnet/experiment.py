"""One training run from start to finish: data, network, training, test, run folder.

This is what ``neuralnet train`` does, as a library call::

    from neuralnet.config import TrainingConfig
    from neuralnet.experiment import train_run
    result = train_run(TrainingConfig(epochs=5, limit=7000), data_dir="../shared/data")
    print(result.metrics["test_acc"], result.path)
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__, plots
from .config import TrainingConfig
from .datasets import DATASETS, load_chapter_data
from .datasets.split import DataSplit
from .io import CHAPTER_PREPROCESSING, load_model, save_model
from .network import Architecture, Network, build_mlp
from .optim import get_optimizer
from .runs import FIGURE_FILES, RunFolder, create_run_folder
from .training import EarlyStopping, History, Trainer, evaluate, format_chapter_line, prepare_targets

__all__ = ["RunResult", "architecture_for", "make_trainer", "load_data", "train_run",
           "evaluate_run", "draw_figures", "test_metrics"]


@dataclass
class RunResult:
    path: Path
    network: Network
    history: History
    metrics: dict


def architecture_for(config: TrainingConfig, n_features: int, n_classes: int) -> Architecture:
    return Architecture(n_features=n_features, hidden=list(config.hidden), n_outputs=n_classes,
                        activation=config.activation, loss=config.loss, init=config.init,
                        dropout=config.dropout, dtype=config.dtype)


def make_trainer(config: TrainingConfig, network: Network) -> Trainer:
    """The optimizer, schedule and shuffling RNG (RandomState(seed)) that ``config`` names."""
    options = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer == "sgd":
        options.update(momentum=config.momentum, nesterov=config.nesterov)
    optimizer = get_optimizer(config.optimizer, network.flat_parameters(), **options)
    return Trainer(network, optimizer, schedule=config.schedule, rng=np.random.RandomState(config.seed))


def load_data(config: TrainingConfig, data_dir=None, download: bool = True) -> DataSplit:
    """The configuration's data set, split and scaled to [-1, 1] as the chapter does."""
    return load_chapter_data(config.dataset, data_dir=data_dir, dtype=np.dtype(config.dtype),
                             limit=config.limit, download=download)


def test_metrics(network: Network, data: DataSplit) -> dict:
    """Test accuracy, loss, MSE, predictions' confusion matrix."""
    Y_test, labels = prepare_targets(network, data.y_test)
    metrics = evaluate(network, data.X_test, Y_test, labels)
    predictions = network.predict(data.X_test)
    return {
        "test_acc": metrics["acc"], "test_loss": metrics["loss"], "test_mse": metrics["mse"],
        "confusion_matrix": plots.confusion_matrix(labels, predictions, network.n_outputs).tolist(),
        "n_test": int(len(labels)),
    }


def draw_figures(run: RunFolder, network: Network, history: History, data: DataSplit,
                 class_names=None) -> list[Path]:
    """Write every figure of the run into ``run/figures/``."""
    names = None if class_names is None or list(class_names) == [str(k) for k in range(10)] else class_names
    predictions = network.predict(data.X_test)
    written = [
        plots.plot_digits_per_class(data.X_train, data.y_train, run.file(FIGURE_FILES["digits_per_class"]), names),
        plots.plot_digit_variants(data.X_train, data.y_train, run.file(FIGURE_FILES["digit_variants"]), digit=7),
        plots.plot_misclassified(data.X_test, data.y_test, predictions, run.file(FIGURE_FILES["misclassified"]),
                                 class_names=names),
        plots.plot_confusion_matrix(data.y_test, predictions, run.file(FIGURE_FILES["confusion_matrix"]),
                                    network.n_outputs, names),
    ]
    if len(history):
        loss_column, loss_label = (("train_mse", "Mean squared error") if network.loss.name == "mse"
                                   else ("train_loss", "Cross-entropy loss"))
        written.append(plots.plot_loss(history, run.file(FIGURE_FILES["loss"]), loss_column, loss_label))
        written.append(plots.plot_accuracy(history, run.file(FIGURE_FILES["accuracy"])))
    first_dense = network.parameters()[0].value
    if first_dense.shape[1] == 784:
        written.append(plots.plot_hidden_weights(first_dense, run.file(FIGURE_FILES["hidden_weights"])))
    return written


def train_run(config: TrainingConfig, data_dir=None, out: str | Path = "runs", *,
              log: Callable[[str], None] | None = print, progress: bool | None = None,
              figures: bool = True, download: bool = True) -> RunResult:
    """Train ``config`` on its data set and write a new run folder under ``out``."""
    config.validate()
    data = load_data(config, data_dir, download)
    n_classes = len(DATASETS[config.dataset].class_names)
    architecture = architecture_for(config, data.X_train.shape[1], n_classes)
    network = build_mlp(architecture, random_seed=config.seed)
    trainer = make_trainer(config, network)

    run = RunFolder(create_run_folder(out))
    log_lines: list[str] = []

    def emit(line: str) -> None:
        log_lines.append(line)
        if log is not None:
            log(line)

    run.write_config(config, data_dir=str(data_dir) if data_dir else None,
                     neuralnet_version=__version__, python=sys.version.split()[0],
                     numpy=np.__version__, platform=platform.platform(),
                     sizes={"train": len(data.y_train), "valid": len(data.y_valid), "test": len(data.y_test)})
    callbacks = [EarlyStopping(config.early_stopping, monitor="valid_loss")] if config.early_stopping else []
    started = time.perf_counter()
    trainer.fit(data.X_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size,
                X_valid=data.X_valid, y_valid=data.y_valid, callbacks=callbacks, progress=progress,
                threads=config.threads, log=lambda row: emit(format_chapter_line(row, config.epochs)))
    train_seconds = time.perf_counter() - started

    metrics = test_metrics(network, data)
    metrics.update(train_seconds=train_seconds, epochs_run=len(trainer.history))
    if callbacks and callbacks[0].stopped_epoch is not None:
        metrics.update(early_stopped_at=callbacks[0].stopped_epoch, best_epoch=callbacks[0].best_epoch)
    emit(f"Test accuracy: {metrics['test_acc'] * 100:.2f}%")

    run.write_history(trainer.history)
    run.write_json("metrics.json", metrics)
    class_names = DATASETS[config.dataset].class_names
    save_model(run.model_path, network, architecture, classes=list(class_names),
               preprocessing=CHAPTER_PREPROCESSING, training=config.to_dict(),
               metrics={k: v for k, v in metrics.items() if k != "confusion_matrix"})
    if figures:
        draw_figures(run, network, trainer.history, data, class_names)
    run.file("log.txt").write_text("\n".join(log_lines) + "\n")
    return RunResult(run.path, network, trainer.history, metrics)


def evaluate_run(path: str | Path, data_dir=None, download: bool = True) -> dict:
    """Reload a run's model and data split and measure it on the test set again."""
    run = RunFolder(path).require()
    config = run.config()
    network, _ = load_model(run.model_path)
    return test_metrics(network, load_data(config, data_dir, download))
