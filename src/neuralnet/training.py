"""The training loop: epochs of shuffled mini-batches, evaluation, history, callbacks.

``Trainer.fit`` runs, for each epoch: set the learning rate from the schedule; for each
mini-batch, forward, loss gradient, backward, optimizer step; then evaluate on the
training and validation sets and append a row to the history. Callbacks see every row
and may stop training (early stopping) or save it (checkpoints).
"""

from __future__ import annotations

import csv
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from .datasets.batches import shuffled_indices
from .layers import Dropout, RandomShift
from .network import Network
from .optim import Optimizer, get_schedule

__all__ = [
    "History", "Trainer", "Callback", "EarlyStopping", "TrainingDiverged",
    "evaluate", "one_hot", "prepare_targets", "check_data", "format_chapter_line", "EpochSnapshot",
]

HISTORY_COLUMNS = ("epoch", "lr", "train_loss", "train_mse", "train_acc",
                   "valid_loss", "valid_mse", "valid_acc", "seconds")


class TrainingDiverged(FloatingPointError):
    """The loss (or, at the end of an epoch, a weight) became NaN or infinite; names the
    epoch and batch where it happened. ``note`` adds a sentence (e.g. where the last good
    checkpoint is)."""

    def __init__(self, epoch: int, batch: int, loss: float, lr: float, note: str = "",
                 what: str = "the loss"):
        self.epoch, self.batch, self.loss, self.lr, self.note, self.what = epoch, batch, loss, lr, note, what
        message = (f"training diverged: {what} became {loss} at epoch {epoch}, batch {batch} "
                   f"(learning rate {lr:g}); try a lower learning rate, e.g. --lr {lr / 10:g}")
        super().__init__(message + (f"; {note}" if note else ""))

    def __reduce__(self):  # keep the fields when the exception crosses a process boundary
        return type(self), (self.epoch, self.batch, self.loss, self.lr, self.note, self.what)


def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """Integer labels [n] -> one-hot rows [n, num_classes], without a Python loop."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.dtype.kind not in "iuf":
        raise TypeError(f"labels must be integers 0..{num_classes - 1}, got an array of dtype {labels.dtype}")
    if labels.size and labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (np.floor(labels) == labels)
        if not whole.all():
            bad = labels[~whole][0].item()
            raise ValueError(f"label {bad!r} is not an integer: expected integers in [0, {num_classes - 1}]")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"label {bad} is out of range: expected integers in [0, {num_classes - 1}]")
    return np.eye(num_classes, dtype=dtype)[labels]


def prepare_targets(network: Network, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets for the loss and labels for accuracy.

    Integer class labels [n] become one-hot rows [n, n_outputs] (returned with the labels);
    a float matrix [n, n_outputs] is used as is (regression: no labels, no accuracy).
    """
    y = np.asarray(y)
    if y.ndim == 1:
        labels = y.astype(np.int64, copy=False) if np.issubdtype(y.dtype, np.integer) else y
        return one_hot(labels, network.n_outputs, network.dtype), np.asarray(labels, dtype=np.int64)
    if y.ndim == 2 and y.shape[1] == network.n_outputs:
        if y.dtype.kind not in "iuf":
            raise TypeError(f"targets must be numbers, got an array of dtype {y.dtype}")
        if y.size and not (np.isfinite(y.min()) and np.isfinite(y.max())):
            raise ValueError("targets y contain NaN or infinite values; expected finite numbers")
        return np.ascontiguousarray(y, dtype=network.dtype), None
    raise ValueError(
        f"y must be class labels [n] or targets [n, {network.n_outputs}], got shape {y.shape}")


def check_data(network: Network, X, y, name: str = "train", raw: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The one place that checks a data set before training on it or evaluating it.

    Returns (X, Y, labels) as ``Trainer.fit`` uses them: X in the network's dtype (left as it
    is when ``raw``, i.e. converted batch by batch by a ``preprocess`` function), Y the
    targets for the loss and labels the class indices (None for regression targets).
    Raises TypeError for arrays that do not hold numbers and ValueError, naming the bad
    value and what was expected, for everything else: wrong shape, no examples, NaN or
    infinite values, labels out of range, X and y of different lengths.
    """
    x_name, y_name = f"X_{name}", f"y_{name}"
    X = np.asarray(X)
    if X.dtype.kind not in "iuf":
        raise TypeError(f"{x_name} must hold numbers (floats, or integer pixels), got an array of dtype {X.dtype}")
    if X.ndim != 2:
        hint = "; for a single example use X.reshape(1, -1)" if X.ndim == 1 else ""
        raise ValueError(f"{x_name} must be 2-D [n_examples, {network.n_features}], got shape {X.shape}{hint}")
    if X.shape[0] == 0:
        raise ValueError(f"{x_name} is empty (shape {X.shape}): expected at least one example")
    if X.shape[1] != network.n_features:
        raise ValueError(f"{x_name} has {X.shape[1]} features, but the network expects {network.n_features}")
    # min and max propagate NaN and show infinities: two passes, no temporary array
    if X.dtype.kind == "f" and not (np.isfinite(X.min()) and np.isfinite(X.max())):
        row, column = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{x_name} contains {X[row, column]} at row {row}, column {column}: "
                         "expected finite numbers")
    if not raw:
        X = network.as_input(X)
    try:
        Y, labels = prepare_targets(network, y)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{y_name}: {error}") from None
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"{x_name} has {X.shape[0]} examples but {y_name} has {Y.shape[0]}")
    return X, Y, labels


def evaluate(network: Network, X: np.ndarray, Y: np.ndarray, labels: np.ndarray | None = None,
             batch_size: int = 10_000, preprocess: Callable[[np.ndarray], np.ndarray] | None = None
             ) -> dict[str, float]:
    """Mean loss, mean squared error and accuracy over all of X, in batches of batch_size.

    ``mse`` is the chapter's ``mse_loss``: the mean of (probability - target)^2 over every
    example *and* output. Sums are accumulated over all batches and divided by the number
    of examples (not the number of batches), so a smaller last batch is weighted right.
    ``preprocess`` turns each batch of raw X into network input (e.g. ``PixelScaler``).
    """
    n = X.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty data set")
    loss_total = 0.0
    squared_total = 0.0
    correct = 0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        x = X[start:stop]
        output = network.forward(x if preprocess is None else preprocess(x))
        targets = Y[start:stop]
        loss_total += network.loss.total(output, targets)
        diff = network.loss.probabilities(output) - targets
        squared_total += float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))
        if labels is not None:
            correct += int(np.count_nonzero(np.argmax(output, axis=1) == labels[start:stop]))
    result = {"loss": loss_total / n, "mse": squared_total / (n * Y.shape[1])}
    result["acc"] = correct / n if labels is not None else float("nan")
    return result


@dataclass
class History:
    """One row per epoch: epoch, lr, train/valid loss, mse and accuracy, seconds."""

    rows: list[dict] = field(default_factory=list)

    def append(self, row: dict) -> None:
        self.rows.append(dict(row))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, column: str) -> list:
        return [row.get(column) for row in self.rows]

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.rows, indent=1, allow_nan=True) + "\n")

    def to_csv(self, path: str | Path) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(HISTORY_COLUMNS), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.rows)

    @classmethod
    def from_json(cls, path: str | Path) -> "History":
        rows = json.loads(Path(path).read_text())
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path} does not hold a training history (a list of rows)")
        return cls(rows)


class Callback:
    """Hooks into training; ``on_epoch_end`` returns True to stop."""

    def on_train_begin(self, trainer: "Trainer") -> None:
        pass

    def on_epoch_end(self, trainer: "Trainer", row: dict) -> bool | None:
        return None

    def on_train_end(self, trainer: "Trainer") -> None:
        pass

    def state_dict(self) -> dict:
        """What a checkpoint must keep for training to resume exactly (arrays and numbers)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    ``mode`` is "min" for losses and "max" for accuracies ("auto" picks from the name).
    """

    def __init__(self, patience: int = 5, monitor: str = "valid_loss", mode: str = "auto",
                 min_delta: float = 0.0, restore_best: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if mode == "auto":
            mode = "max" if monitor.endswith("acc") else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.patience, self.monitor, self.mode = int(patience), monitor, mode
        self.min_delta, self.restore_best = float(min_delta), restore_best
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: np.ndarray | None = None  # flat weights of the best epoch
        self.stopped_epoch: int | None = None

    def _improved(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def on_epoch_end(self, trainer, row):
        value = row.get(self.monitor)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"early stopping monitors {self.monitor!r}, which this run does not "
                             "compute (give validation data)")
        if self._improved(value):
            self.best_value, self.best_epoch = value, row["epoch"]
            if self.restore_best:  # the snapshot the row describes (the network may be further on)
                self.best_weights = trainer.snapshot.weights
            return False
        if row["epoch"] - self.best_epoch >= self.patience:
            self.stopped_epoch = row["epoch"]
            return True
        return False

    def on_train_end(self, trainer):
        if self.restore_best and self.best_weights is not None:
            np.copyto(trainer.network.flat_values, self.best_weights)

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]


def format_chapter_line(row: dict, epochs: int) -> str:
    """The chapter's log line: ``Epoch: 001/050 | Train MSE: 0.05 | Train Acc: 76.17% | ...``."""
    return (f"Epoch: {row['epoch']:03d}/{epochs:03d} "
            f"| Train MSE: {row['train_mse']:.2f} "
            f"| Train Acc: {row['train_acc'] * 100:.2f}% "
            f"| Valid Acc: {row['valid_acc'] * 100:.2f}%")


#: below this many multiply-adds per mini-batch, BLAS's threads cost more than they give
SMALL_BATCH_WORK = 16_000_000


class _BlasThreads:
    """Switches the number of BLAS threads (threadpoolctl), found once per trainer."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController
        self.controller = ThreadpoolController()

    def limit(self, threads: int | None):
        if threads is None:
            return nullcontext()
        return self.controller.limit(limits=int(threads), user_api="blas")


def training_threads(network: Network, batch_size: int, threads: int | None) -> int | None:
    """BLAS threads for the training loop: ``threads`` if given; else one thread when each
    mini-batch's matrix products are small (the chapter's 784-50-10 network at batch 100),
    since threads then spend more time synchronising than multiplying."""
    if threads is not None:
        return threads
    work = batch_size * sum(p.value.size for p in network.parameters() if p.value.ndim == 2)
    return 1 if work < SMALL_BATCH_WORK else None


@dataclass
class EpochSnapshot:
    """The state at the end of an epoch: enough to evaluate it, resume from it or roll back."""

    epoch: int
    weights: np.ndarray          # copy of network.flat_values
    optimizer_state: dict
    rng_state: object
    lr: float
    seconds: float               # wall time of the epoch's mini-batch loop
    dropout_rng_states: list = field(default_factory=list)  # one per random layer (Dropout, RandomShift), in order


def _get_rng_state(rng):
    """The generator's state as a dict of numbers, strings and arrays (JSON-friendly)."""
    if rng is None:
        return np.random.get_state(legacy=False)
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator.state
    return rng.get_state(legacy=False)


def _set_rng_state(rng, state) -> None:
    if rng is None:
        np.random.set_state(state)
    elif isinstance(rng, np.random.Generator):
        rng.bit_generator.state = state
    else:
        rng.set_state(state)


class Trainer:
    """Trains a network with an optimizer; keeps the history, epoch count and shuffling RNG.

    ``rng``: what shuffles the mini-batches: an int seed or a ``np.random.RandomState``
    (the chapter's ``np.random.seed(123)`` is ``RandomState(123)``), or None for NumPy's
    global random state, exactly as the chapter's ``minibatch_generator`` uses it.

    Evaluation of an epoch (the whole training and validation sets, with the weights at the
    end of that epoch) can run on a second thread while the next epoch trains: the
    numbers are the same, they only arrive later. Callbacks then see each row in order
    together with ``trainer.snapshot``, the state the row describes; if one of them stops
    training, the trainer rolls back to that snapshot, so the outcome does not depend on
    how far the next epoch had got.
    """

    def __init__(self, network: Network, optimizer: Optimizer, *, schedule: str | Callable | None = None,
                 rng: int | np.random.RandomState | None = None):
        self.network = network
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.schedule = schedule if callable(schedule) else get_schedule(schedule)
        self.rng = np.random.RandomState(rng) if isinstance(rng, (int, np.integer)) else rng
        self.history = History()
        self.epoch = 0  # epochs completed
        self.snapshot: EpochSnapshot | None = None  # the state the latest history row describes

    # -- snapshots ---------------------------------------------------------------------------
    def _dropout_layers(self) -> list[Dropout | RandomShift]:
        """The layers that draw random numbers in training (dropout masks, shifts), in order."""
        return [layer for layer in self.network.layers if isinstance(layer, (Dropout, RandomShift))]

    def capture(self, seconds: float = 0.0) -> EpochSnapshot:
        """The state now: weights, optimizer, shuffling and dropout RNGs, epoch count."""
        return EpochSnapshot(self.epoch, self.network.flat_values.copy(), self.optimizer.state_dict(),
                             _get_rng_state(self.rng), self.optimizer.lr, seconds,
                             [_get_rng_state(layer.rng) for layer in self._dropout_layers()])

    def restore(self, snapshot: EpochSnapshot) -> None:
        """Put weights, optimizer, shuffling and dropout RNGs and epoch count back to ``snapshot``."""
        np.copyto(self.network.flat_values, snapshot.weights)
        self.optimizer.load_state_dict(snapshot.optimizer_state)
        _set_rng_state(self.rng, snapshot.rng_state)
        dropouts = self._dropout_layers()
        if snapshot.dropout_rng_states:
            if len(snapshot.dropout_rng_states) != len(dropouts):
                raise ValueError(f"the snapshot has {len(snapshot.dropout_rng_states)} generator states "
                                 f"of random layers, but the network has {len(dropouts)} "
                                 "(Dropout and RandomShift layers)")
            for layer, state in zip(dropouts, snapshot.dropout_rng_states):
                _set_rng_state(layer.rng, state)
        self.epoch = snapshot.epoch
        self.history.rows = [row for row in self.history.rows if row["epoch"] <= snapshot.epoch]

    # -- training ------------------------------------------------------------------------------
    def fit(self, X_train: np.ndarray, y_train: np.ndarray, *, epochs: int, batch_size: int = 100,
            X_valid: np.ndarray | None = None, y_valid: np.ndarray | None = None,
            callbacks: Sequence[Callback] = (), evaluate_train: bool = True, drop_last: bool = True,
            eval_batch_size: int = 10_000, progress: bool | None = None,
            log: Callable[[dict], None] | None = None, threads: int | None = None,
            asynchronous_evaluation: bool | None = None,
            preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
            allow_single_class: bool = False) -> History:
        """Train until ``epochs`` epochs are complete (counting earlier ones, so a resumed
        trainer continues where it stopped) or a callback stops it.

        ``threads``: BLAS threads (None: one for the mini-batch loop when its matrix products
        are small, the library's default otherwise). ``asynchronous_evaluation`` (None: when
        the loop runs on one thread) evaluates each epoch on a second thread.
        ``preprocess``: X_train and X_valid are raw (e.g. uint8 pixels) and each mini-batch is
        converted as it is used (``PixelScaler``: a quarter of the memory traffic).
        ``allow_single_class``: accept class labels y_train of one class only (refused by
        default, as a classifier cannot learn from them; incremental training on small
        batches, such as scikit-learn's ``partial_fit``, may need it).

        The inputs are checked first (``check_data``): TypeError or ValueError, naming the bad
        value and what was expected, for wrong shapes, NaN or infinite values, labels out of
        range, a single class, X and y of different lengths, or no examples.
        """
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        net = self.network
        raw = preprocess is not None
        X_train, Y_train, labels_train = check_data(net, X_train, y_train, "train", raw=raw)
        if not allow_single_class and labels_train is not None and labels_train.min() == labels_train.max():
            raise ValueError(f"y_train holds a single class ({labels_train[0]}): a classifier needs "
                             f"examples of at least two of the {net.n_outputs} classes")
        if X_train.shape[0] < batch_size and drop_last:
            raise ValueError(f"batch_size {batch_size} is larger than the {X_train.shape[0]} training examples")
        sets = {"train": (X_train, Y_train, labels_train)} if evaluate_train else {}
        if X_valid is not None or y_valid is not None:
            if X_valid is None or y_valid is None:
                raise ValueError("give both X_valid and y_valid, or neither")
            sets["valid"] = check_data(net, X_valid, y_valid, "valid", raw=raw)

        blas = _BlasThreads()
        loop_threads = training_threads(net, batch_size, threads)
        if asynchronous_evaluation is None:
            asynchronous_evaluation = loop_threads == 1
        run = _EpochRunner(self, X_train, Y_train, sets, epochs, batch_size, drop_last, eval_batch_size,
                           progress, log, list(callbacks), preprocess)
        for callback in callbacks:
            callback.on_train_begin(self)
        # BLAS products on one thread and on two differ in their last bits, so every evaluation,
        # on the second thread or in this one, runs on the loop's number of threads: the loop's
        # limit (``threads`` when given) holds for the whole fit (else an evaluation would see
        # whichever limit was set at the time, and the history would depend on timing and on
        # asynchronous_evaluation)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuralnet-eval") as executor, \
                blas.limit(loop_threads):
            run.executor = executor if asynchronous_evaluation else None
            try:
                while self.epoch < epochs and not run.stopped:
                    run.train_one_epoch()
                    run.evaluate_latest()
            except TrainingDiverged:
                run.deliver(block=True)
                if self.snapshot is not None:
                    self.restore(self.snapshot)  # keep the last good weights in memory
                raise
            run.deliver(block=True)
        for callback in callbacks:
            callback.on_train_end(self)
        return self.history


class _EpochRunner:
    """One ``fit`` call's loop: mini-batches, then each epoch's evaluation (now or on the
    executor's thread), delivered to the log and callbacks in epoch order."""

    POLL_EVERY = 64  # batches between checks for a finished evaluation

    def __init__(self, trainer, X, Y, sets, epochs, batch_size, drop_last, eval_batch_size, progress,
                 log, callbacks, preprocess):
        self.trainer, self.X, self.Y, self.sets, self.preprocess = trainer, X, Y, sets, preprocess
        self.epochs, self.batch_size, self.drop_last = epochs, batch_size, drop_last
        self.eval_batch_size, self.progress, self.log, self.callbacks = eval_batch_size, progress, log, callbacks
        self.n_batches = X.shape[0] // batch_size if drop_last else -(-X.shape[0] // batch_size)
        self.executor = None  # evaluates epochs on its thread (None: in this thread)
        self.pending: list = []  # (snapshot, future) in epoch order
        self.stopped = False
        self._eval_network = None
        self._latest: EpochSnapshot | None = None

    def train_one_epoch(self) -> None:
        trainer = self.trainer
        net, optimizer, loss = trainer.network, trainer.optimizer, trainer.network.loss
        epoch_number = trainer.epoch + 1
        optimizer.lr = lr = trainer.schedule(trainer.base_lr, trainer.epoch, self.epochs)
        bar = tqdm(total=self.n_batches, desc=f"Epoch {epoch_number:03d}/{self.epochs:03d}", unit="batch",
                   leave=False, disable=None if self.progress is None else not self.progress)
        started = time.perf_counter()
        X, Y, size, preprocess = self.X, self.Y, self.batch_size, self.preprocess
        order = shuffled_indices(X.shape[0], trainer.rng)  # the chapter's shuffle, same random numbers
        stop = X.shape[0] - X.shape[0] % size if self.drop_last else X.shape[0]
        try:
            # a diverging step is reported by the loss check, not by NumPy's overflow warnings
            with np.errstate(over="ignore", invalid="ignore"):
                for batch_number, start in enumerate(range(0, stop, size), start=1):
                    batch = order[start:start + size]  # the rows of minibatch_generator's batch
                    x = X[batch] if preprocess is None else preprocess(X[batch])
                    batch_loss = net.train_step(x, Y[batch])
                    if not math.isfinite(batch_loss):
                        raise TrainingDiverged(epoch_number, batch_number, batch_loss, lr)
                    optimizer.step()
                    bar.update()
                    if self.pending and batch_number % self.POLL_EVERY == 0:
                        self.deliver(block=False)
        finally:
            bar.close()
        # the last step of an epoch may overflow a weight before any loss shows it: once per
        # epoch (min and max propagate NaN and show infinities), so no snapshot is ever bad
        weights = net.flat_values
        for extreme in (weights.min(), weights.max()):
            if not math.isfinite(extreme):
                raise TrainingDiverged(epoch_number, batch_number, float(extreme), lr, what="a weight")
        trainer.epoch = epoch_number
        self._latest = trainer.capture(time.perf_counter() - started)

    def evaluate_latest(self) -> None:
        snapshot = self._latest
        if self.executor is None:
            self.pending.append((snapshot, None))
        else:
            if self._eval_network is None:
                self._eval_network = self.trainer.network.clone()
            self.pending.append((snapshot, self.executor.submit(self._evaluate, snapshot, self._eval_network)))
        self.deliver(block=self.executor is None)

    def _evaluate(self, snapshot: EpochSnapshot, network: Network) -> dict:
        np.copyto(network.flat_values, snapshot.weights)
        row = {"epoch": snapshot.epoch, "lr": snapshot.lr}
        for name in ("train", "valid"):
            if name in self.sets:
                metrics = evaluate(network, *self.sets[name], self.eval_batch_size, self.preprocess)
                row.update({f"{name}_loss": metrics["loss"], f"{name}_mse": metrics["mse"],
                            f"{name}_acc": metrics["acc"]})
            else:
                row.update({f"{name}_loss": float("nan"), f"{name}_mse": float("nan"),
                            f"{name}_acc": float("nan")})
        row["seconds"] = snapshot.seconds
        return row

    def deliver(self, block: bool) -> None:
        """Hand finished evaluations to the history, the log and the callbacks, in order."""
        trainer = self.trainer
        while self.pending and not self.stopped:
            snapshot, future = self.pending[0]
            if future is None:
                row = self._evaluate(snapshot, trainer.network if snapshot.epoch == trainer.epoch
                                     else self._clone_with(snapshot))
            elif block or future.done():
                row = future.result()
            else:
                return
            self.pending.pop(0)
            trainer.history.append(row)
            trainer.snapshot = snapshot
            if self.log is not None:
                with tqdm.external_write_mode():
                    self.log(row)
            stop = False
            for callback in self.callbacks:
                stop = bool(callback.on_epoch_end(trainer, row)) or stop
            if stop:
                self.stopped = True
                self.pending.clear()
                if trainer.epoch != snapshot.epoch:
                    trainer.restore(snapshot)  # undo the epochs trained after the stopping one

    def _clone_with(self, snapshot: EpochSnapshot) -> Network:
        network = self.trainer.network.clone()
        np.copyto(network.flat_values, snapshot.weights)
        return network
