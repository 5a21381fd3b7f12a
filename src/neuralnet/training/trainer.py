"""The training loop: epochs of shuffled mini-batches, evaluation, history, callbacks.

``Trainer.fit`` runs, for each epoch: set the learning rate from the schedule; for each
mini-batch, forward, loss gradient, backward, optimizer step; then evaluate on the
training and validation sets and append a row to the history. Callbacks see every row
and may stop training (early stopping) or save it (checkpoints).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from ..datasets.batches import shuffled_indices
from ..engine.kernels import BlasThreads, keep_freed_memory, training_threads
from ..engine.network import Network
from ..engine.optim import Optimizer
from ..engine.schedules import Schedule, get_schedule
from .callbacks import Callback
from .data import check_data, check_weights
from .history import History
from .metrics import evaluate

__all__ = ["Trainer", "TrainingDiverged", "EpochSnapshot"]


class _NoBar:
    """The progress bar when there is none to show."""

    def update(self, n: int = 1) -> None:
        """Nothing to count."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(disable: bool | None, **options):
    """An epoch's progress bar: tqdm.auto's (a widget in a notebook), imported when a bar may be
    shown; none when it is off (tqdm.auto and what it imports, asyncio and ssl, are 11 MB of a
    training process)."""
    if disable is True:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(disable=disable, **options)


def _bars_paused():
    """A context in which text can be printed between the progress bars (none without tqdm)."""
    if "tqdm" not in sys.modules:
        return nullcontext()
    from tqdm.std import tqdm

    return tqdm.external_write_mode()


class TrainingDiverged(FloatingPointError):
    """The loss (or, at the end of an epoch, a weight) became NaN or infinite; names the
    epoch and batch where it happened. ``note`` adds a sentence (e.g. where the last good
    checkpoint is)."""

    def __init__(self, epoch: int, batch: int, loss: float, lr: float, note: str = "", what: str = "the loss"):
        self.epoch, self.batch, self.loss, self.lr, self.note, self.what = epoch, batch, loss, lr, note, what
        message = (
            f"training diverged: {what} became {loss} at epoch {epoch}, batch {batch} "
            f"(learning rate {lr:g}); try a lower learning rate, e.g. --lr {lr / 10:g}"
        )
        super().__init__(message + (f"; {note}" if note else ""))

    def __reduce__(self):  # keep the fields when the exception crosses a process boundary
        return type(self), (self.epoch, self.batch, self.loss, self.lr, self.note, self.what)


@dataclass
class EpochSnapshot:
    """The state at the end of an epoch: enough to evaluate it, resume from it or roll back."""

    epoch: int
    weights: np.ndarray  # copy of network.flat_values
    optimizer_state: dict
    rng_state: object
    lr: float
    seconds: float  # wall time of the epoch's mini-batch loop
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

    Evaluation of an epoch (the whole training and validation sets, with the weights at the
    end of that epoch) can run on a second thread while the next epoch trains: the
    numbers are the same, they only arrive later. Callbacks then see each row in order
    together with ``trainer.snapshot``, the state the row describes; if one of them stops
    training, the trainer rolls back to that snapshot, so the outcome does not depend on
    how far the next epoch had got.

    Parameters
    ----------
    network : Network
        The network to train.
    optimizer : Optimizer
        What updates its parameters.
    schedule : str or callable, optional
        A schedule's name or function f(base_lr, epoch, epochs) -> lr, where base_lr is the
        optimizer's learning rate when the trainer got it, times ``lr_scale`` (which
        reduce-on-plateau lowers); None: the constant rate.
    rng : int or numpy.random.RandomState or None
        What shuffles the mini-batches: an int seed or a ``np.random.RandomState`` (the
        chapter's ``np.random.seed(123)`` is ``RandomState(123)``), or None for NumPy's global
        random state, exactly as the chapter's ``minibatch_generator`` uses it.
    warmup_epochs : int, default 0
        The learning rate rises linearly over the first mini-batches of that many epochs,
        lr * (step / warm-up steps), from the first step (1 / warm-up steps) to the full rate.
    """

    def __init__(
        self,
        network: Network,
        optimizer: Optimizer,
        *,
        schedule: str | Schedule | None = None,
        rng: int | np.random.RandomState | None = None,
        warmup_epochs: int = 0,
    ):
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, np.integer)) or warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be a whole number >= 0, got {warmup_epochs!r}")
        self.warmup_epochs = int(warmup_epochs)
        self.lr_scale = 1.0  # what reduce-on-plateau has multiplied the schedule's rate by
        self._network = network
        self._optimizer = optimizer
        self._base_lr = optimizer.lr
        self._schedule: Schedule = schedule if callable(schedule) else get_schedule(schedule)
        self._schedule_start = 0  # the epoch the schedule counts from
        self.rng = np.random.RandomState(rng) if isinstance(rng, (int, np.integer)) else rng
        self.history = History()
        self.epoch = 0  # epochs completed
        self._snapshot: EpochSnapshot | None = None  # the state the latest history row describes
        #: (epoch, mini-batch, mini-batches per epoch, its loss) of the epoch training now, updated
        #: every ``POLL_EVERY`` mini-batches (before the callbacks' ``poll``); None before the first
        self.progress: tuple[int, int, int, float] | None = None

    network = property(lambda self: self._network, doc="the network being trained")
    optimizer = property(lambda self: self._optimizer, doc="the optimizer that updates it")
    snapshot = property(
        lambda self: self._snapshot, doc="the state the latest history row describes (None before the first row)"
    )

    # -- what callers may change ---------------------------------------------------------------
    def replace_optimizer(self, optimizer: Optimizer) -> None:
        """Train on with ``optimizer`` (new settings, the same weights); its learning rate is the
        schedule's base rate from now on."""
        self._optimizer = optimizer
        self._base_lr = optimizer.lr

    def restart_schedule(self, schedule: str | Schedule | None = None) -> None:
        """Count the schedule (or a new one) from the next epoch on, over the epochs of the next
        ``fit`` call: a warm start that trains on begins its schedule afresh."""
        if schedule is not None:
            self._schedule = schedule if callable(schedule) else get_schedule(schedule)
        self._schedule_start = self.epoch

    def learning_rate(self, epochs: int) -> float:
        """The learning rate of the next epoch, in a fit to ``epochs`` epochs."""
        start = self._schedule_start
        return self._schedule(self._base_lr * self.lr_scale, self.epoch - start, epochs - start)

    def warmup_factor(self, batch_index: int, n_batches: int) -> float:
        """What the epoch's rate is multiplied by at mini-batch ``batch_index`` (from 0) of the
        next epoch: step / warm-up steps during the warm-up, else 1."""
        epoch = self.epoch - self._schedule_start
        if epoch >= self.warmup_epochs:
            return 1.0
        return (epoch * n_batches + batch_index + 1) / (self.warmup_epochs * n_batches)

    # -- snapshots ---------------------------------------------------------------------------
    def capture(self, seconds: float = 0.0) -> EpochSnapshot:
        """The state now: weights, optimizer, shuffling and dropout RNGs, epoch count."""
        return EpochSnapshot(
            self.epoch,
            self._network.flat_values.copy(),
            self._optimizer.state_dict(),
            _get_rng_state(self.rng),
            self._optimizer.lr,
            seconds,
            self._network.generator_states(),
        )

    def restore(self, snapshot: EpochSnapshot) -> None:
        """Put weights, optimizer, shuffling and dropout RNGs and epoch count back to ``snapshot``
        (and drop the history rows after it)."""
        self._network.load_flat_values(snapshot.weights)
        self._optimizer.load_state_dict(snapshot.optimizer_state)
        _set_rng_state(self.rng, snapshot.rng_state)
        if snapshot.dropout_rng_states:
            self._network.set_generator_states(snapshot.dropout_rng_states)
        self.epoch = snapshot.epoch
        self.history.rows = [row for row in self.history.rows if row["epoch"] <= snapshot.epoch]

    def resume_from(self, snapshot: EpochSnapshot, history: Sequence[dict]) -> None:
        """Continue from a saved state: ``snapshot`` restored, ``history`` its rows (epochs 1 to
        ``snapshot.epoch``); the next ``fit`` trains the epoch after it."""
        self.restore(snapshot)
        self.history = History([dict(row) for row in history])
        self._snapshot = snapshot

    def load_weights(self, flat_values: np.ndarray) -> None:
        """Set the network's weights (a copy of ``network.flat_values``)."""
        self._network.load_flat_values(flat_values)

    # -- copies and pickles: through the constructor, the optimizer rebuilt on the network ------
    def __reduce__(self):
        optimizer = self._optimizer
        flat = len(optimizer.params) == 1 and optimizer.params[0].value is self._network.flat_values
        return (
            _rebuild_trainer,
            (
                self._network,
                type(optimizer),
                optimizer.hyperparameters(),
                flat,
                optimizer.state_dict(),
                self._base_lr,
                self._schedule,
                self._schedule_start,
                self.rng,
                self.history,
                self.epoch,
                self._snapshot,
                self.warmup_epochs,
                self.lr_scale,
            ),
        )

    # -- training ------------------------------------------------------------------------------
    def fit(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        *,
        epochs: int,
        batch_size: int = 100,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
        callbacks: Sequence[Callback] = (),
        evaluate_train: bool = True,
        drop_last: bool = True,
        eval_batch_size: int = 10_000,
        progress: bool | None = None,
        log: Callable[[dict], None] | None = None,
        threads: int | None = None,
        asynchronous_evaluation: bool | None = None,
        preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
        allow_single_class: bool = False,
        sample_weight: np.ndarray | None = None,
        valid_weight: np.ndarray | None = None,
    ) -> History:
        """Train until ``epochs`` epochs are complete (counting earlier ones, so a resumed
        trainer continues where it stopped) or a callback stops it.

        Each epoch: the learning rate from the schedule; for each shuffled mini-batch, forward,
        loss gradient, backward, optimizer step; then the evaluation of the training and
        validation sets, a history row, and the callbacks.

        Parameters
        ----------
        X_train : ndarray of shape [n, *input_shape] or [n, n_features]
            The training examples (raw with ``preprocess``).
        y_train : ndarray of shape [n] or [n, n_outputs]
            Their class labels, or targets (see ``check_data``).
        epochs : int
            The epoch count to reach (a positive integer).
        batch_size : int, default 100
            Examples per mini-batch.
        X_valid, y_valid : ndarray, optional
            A validation set, evaluated after every epoch (both or neither).
        callbacks : sequence of Callback, default ()
            Hooks into training (see ``Callback``). One whose ``synchronous`` attribute is true
            (it changes training, as reduce-on-plateau does) makes every evaluation synchronous.
        evaluate_train : bool, default True
            Evaluate the whole training set after every epoch (else its columns are NaN).
        drop_last : bool, default True
            Skip a last, partial mini-batch (the chapter's ``minibatch_generator``).
        eval_batch_size : int, default 10_000
            Examples per batch of the evaluations.
        progress : bool, optional
            A progress bar per epoch (None: on a terminal).
        log : callable, optional
            Called with each history row.
        threads : int, optional
            BLAS threads (None: one for the mini-batch loop when its matrix products are small,
            the library's default otherwise).
        asynchronous_evaluation : bool, optional
            Evaluate each epoch on a second thread while the next one trains (None: when the
            loop runs on one thread).
        preprocess : callable, optional
            X_train and X_valid are raw (e.g. uint8 pixels) and each mini-batch is converted as it
            is used (``PixelScaler``: a quarter of the memory traffic).
        allow_single_class : bool, default False
            Accept class labels y_train of one class only (refused by default, as a classifier
            cannot learn from them; incremental training on small batches, such as
            scikit-learn's ``partial_fit``, may need it).
        sample_weight : ndarray of shape [n], optional
            Each example's weight in the loss, scikit-learn's meaning: a mini-batch's loss is
            sum_i w_i l_i / sum_i w_i, so weight 2 counts an example twice; the history's losses
            and accuracies are weighted too.
        valid_weight : ndarray of shape [n_valid], optional
            The same for the validation set.

        Returns
        -------
        History
            The trainer's history, one row per epoch.

        Raises
        ------
        TypeError, ValueError
            The inputs are checked first (``check_data``), naming the bad value and what was
            expected, for wrong shapes, NaN or infinite values, labels out of range, a single
            class, X and y of different lengths, or no examples.
        TrainingDiverged
            When the loss or a weight becomes NaN or infinite (the last good epoch's state is
            kept in memory).
        """
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        net = self._network
        raw = preprocess is not None
        X_train, Y_train, labels_train = check_data(net, X_train, y_train, "train", raw=raw)
        if not allow_single_class and labels_train is not None and labels_train.min() == labels_train.max():
            raise ValueError(
                f"y_train holds a single class ({labels_train[0]}): a classifier needs "
                f"examples of at least two of the {net.n_outputs} classes"
            )
        if X_train.shape[0] < batch_size and drop_last:
            raise ValueError(f"batch_size {batch_size} is larger than the {X_train.shape[0]} training examples")
        weights = check_weights(sample_weight, X_train.shape[0], "sample_weight")
        sets = {"train": (X_train, Y_train, labels_train, weights)} if evaluate_train else {}
        if X_valid is not None or y_valid is not None:
            if X_valid is None or y_valid is None:
                raise ValueError("give both X_valid and y_valid, or neither")
            valid = check_data(net, X_valid, y_valid, "valid", raw=raw)
            sets["valid"] = (*valid, check_weights(valid_weight, valid[0].shape[0], "valid_weight"))

        keep_freed_memory()  # each step's maps reuse the last step's pages instead of faulting in new ones
        blas = BlasThreads()
        matrices = [p.value.size for p in net.parameters() if p.value.ndim == 2]
        loop_threads = training_threads(matrices, batch_size, threads)
        if asynchronous_evaluation is None:
            asynchronous_evaluation = loop_threads == 1
        if any(getattr(callback, "synchronous", False) for callback in callbacks):
            asynchronous_evaluation = False  # the next epoch depends on this one's row
        run = _EpochRunner(
            self,
            X_train,
            Y_train,
            sets,
            epochs,
            batch_size,
            drop_last,
            eval_batch_size,
            progress,
            log,
            list(callbacks),
            preprocess,
            weights,
        )
        for callback in callbacks:
            callback.on_train_begin(self)
        # BLAS products on one thread and on two differ in their last bits, so every evaluation,
        # on the second thread or in this one, runs on the loop's number of threads: the loop's
        # limit (``threads`` when given) holds for the whole fit (else an evaluation would see
        # whichever limit was set at the time, and the history would depend on timing and on
        # asynchronous_evaluation)
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuralnet-eval") as executor,
            blas.limit(loop_threads),
        ):
            run.executor = executor if asynchronous_evaluation else None
            try:
                while self.epoch < epochs and not run.stopped:
                    run.train_one_epoch()
                    run.evaluate_latest()
            except TrainingDiverged:
                run.deliver(block=True)
                if self._snapshot is not None:
                    self.restore(self._snapshot)  # keep the last good weights in memory
                raise
            run.deliver(block=True)
        for callback in callbacks:
            callback.on_train_end(self)
        return self.history


def _rebuild_trainer(
    network,
    optimizer_type,
    hyperparameters,
    flat,
    optimizer_state,
    base_lr,
    schedule,
    schedule_start,
    rng,
    history,
    epoch,
    snapshot,
    warmup_epochs=0,
    lr_scale=1.0,
) -> Trainer:
    params = network.flat_parameters() if flat else network.parameters()
    optimizer = optimizer_type(params, **hyperparameters)
    optimizer.load_state_dict(optimizer_state)
    trainer = Trainer(network, optimizer, schedule=schedule, rng=rng, warmup_epochs=warmup_epochs)
    trainer._base_lr, trainer._schedule_start, trainer.lr_scale = base_lr, schedule_start, lr_scale
    trainer.history, trainer.epoch, trainer._snapshot = history, epoch, snapshot
    return trainer


class _EpochRunner:
    """One ``fit`` call's loop: mini-batches, then each epoch's evaluation (now or on the
    executor's thread), delivered to the log and callbacks in epoch order."""

    POLL_EVERY = 64  # batches between checks for a finished evaluation

    def __init__(
        self,
        trainer,
        X,
        Y,
        sets,
        epochs,
        batch_size,
        drop_last,
        eval_batch_size,
        progress,
        log,
        callbacks,
        preprocess,
        weights=None,
    ):
        self.trainer, self.X, self.Y, self.sets, self.preprocess = trainer, X, Y, sets, preprocess
        self.weights = weights
        self.epochs, self.batch_size, self.drop_last = epochs, batch_size, drop_last
        self.eval_batch_size, self.progress, self.log, self.callbacks = eval_batch_size, progress, log, callbacks
        self.n_batches = X.shape[0] // batch_size if drop_last else -(-X.shape[0] // batch_size)
        # callbacks written without the base class need not have poll
        self.polls = [callback.poll for callback in callbacks if hasattr(callback, "poll")]
        self.trained_hooks = [
            callback.on_epoch_trained for callback in callbacks if hasattr(callback, "on_epoch_trained")
        ]
        self.executor = None  # evaluates epochs on its thread (None: in this thread)
        self.epoch_seconds: list[float] = []  # each epoch's mini-batch loop, for the time left
        self.pending: list = []  # (snapshot, future) in epoch order
        self.stopped = False
        self._eval_network = None
        self._latest: EpochSnapshot | None = None

    def train_one_epoch(self) -> None:
        trainer = self.trainer
        net, optimizer = trainer.network, trainer.optimizer
        epoch_number = trainer.epoch + 1
        optimizer.lr = lr = trainer.learning_rate(self.epochs)
        warming = trainer.epoch - trainer._schedule_start < trainer.warmup_epochs
        weights = self.weights
        bar = _progress_bar(
            total=self.n_batches,
            desc=f"Epoch {epoch_number:03d}/{self.epochs:03d}",
            unit="batch",
            leave=False,
            disable=None if self.progress is None else not self.progress,
        )
        if self.epoch_seconds and not isinstance(bar, _NoBar):  # the run's time left, from its epochs so far
            left = sum(self.epoch_seconds) / len(self.epoch_seconds) * (self.epochs - trainer.epoch)
            bar.set_postfix_str(f"run: {bar.format_interval(left)} left")
        started = time.perf_counter()
        X, Y, size, preprocess = self.X, self.Y, self.batch_size, self.preprocess
        reshape = (-1, *net.input_shape) if X.ndim != 1 + len(net.input_shape) else None
        order = shuffled_indices(X.shape[0], trainer.rng)  # the chapter's shuffle, same random numbers
        stop = X.shape[0] - X.shape[0] % size if self.drop_last else X.shape[0]
        try:
            # a diverging step is reported by the loss check, not by NumPy's overflow warnings
            with np.errstate(over="ignore", invalid="ignore"):
                for batch_number, start in enumerate(range(0, stop, size), start=1):
                    batch = order[start : start + size]  # the rows of minibatch_generator's batch
                    x = X[batch] if preprocess is None else preprocess(X[batch])
                    if reshape is not None:
                        x = x.reshape(reshape)  # rows of raw values -> the network's input shape
                    batch_loss = net.loss_and_gradients(x, Y[batch], None if weights is None else weights[batch])
                    if not math.isfinite(batch_loss):
                        raise TrainingDiverged(epoch_number, batch_number, batch_loss, optimizer.lr)
                    if warming:
                        optimizer.lr = lr * trainer.warmup_factor(batch_number - 1, self.n_batches)
                    optimizer.step()
                    bar.update()
                    if batch_number % self.POLL_EVERY == 0:
                        # where the epoch is, for callbacks that show it: (epoch, batch, batches, loss)
                        trainer.progress = (epoch_number, batch_number, self.n_batches, batch_loss)
                        for poll in self.polls:
                            poll(trainer)
                        if self.pending:
                            self.deliver(block=False)
        finally:
            bar.close()
        optimizer.lr = lr  # the epoch's rate (after a warm-up's last step, the same)
        trainer.progress = (epoch_number, batch_number, self.n_batches, batch_loss)
        for poll in self.polls:  # and once per epoch, however short it is
            poll(trainer)
        # the last step of an epoch may overflow a weight before any loss shows it: once per
        # epoch (min and max propagate NaN and show infinities), so no snapshot is ever bad
        weights = net.flat_values
        for extreme in (weights.min(), weights.max()):
            if not math.isfinite(extreme):
                raise TrainingDiverged(epoch_number, batch_number, float(extreme), lr, what="a weight")
        trainer.epoch = epoch_number
        self._latest = trainer.capture(time.perf_counter() - started)
        self.epoch_seconds.append(self._latest.seconds)
        for hook in self.trained_hooks:  # the gradients of the epoch's last mini-batch are still there
            hook(trainer)

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
        network.load_flat_values(snapshot.weights)
        row = {"epoch": snapshot.epoch, "lr": snapshot.lr}
        for name in ("train", "valid"):
            if name in self.sets:
                X, Y, labels, weights = self.sets[name]
                metrics = evaluate(network, X, Y, labels, self.eval_batch_size, self.preprocess, weights)
                row.update(
                    {f"{name}_loss": metrics["loss"], f"{name}_mse": metrics["mse"], f"{name}_acc": metrics["acc"]}
                )
            else:
                row.update({f"{name}_loss": float("nan"), f"{name}_mse": float("nan"), f"{name}_acc": float("nan")})
        row["seconds"] = snapshot.seconds
        return row

    def deliver(self, block: bool) -> None:
        """Hand finished evaluations to the history, the log and the callbacks, in order."""
        trainer = self.trainer
        while self.pending and not self.stopped:
            snapshot, future = self.pending[0]
            if future is None:
                row = self._evaluate(
                    snapshot, trainer.network if snapshot.epoch == trainer.epoch else self._clone_with(snapshot)
                )
            elif block or future.done():
                row = future.result()
            else:
                return
            self.pending.pop(0)
            trainer.history.append(row)
            trainer._snapshot = snapshot
            if self.log is not None:
                with _bars_paused():
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
        network.load_flat_values(snapshot.weights)
        return network
