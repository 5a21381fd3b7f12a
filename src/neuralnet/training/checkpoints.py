"""Checkpoints: everything needed to continue a training run exactly where it stopped.

``Checkpointer`` is a training callback that writes ``checkpoint.safetensors`` into the run
folder each time an epoch's row reaches the history (at the end of the epoch, or a moment
into the next one when evaluation runs on the second thread), replacing the previous
checkpoint atomically: temporary file, fsync, rename. A crash or SIGKILL at any moment
leaves the previous complete checkpoint or the new one, never a torn file.
``restore_checkpoint`` puts a trainer back into that state; the training that follows is
bit for bit the one the interrupted run would have done (same weights, optimizer buffers,
shuffling order, dropout masks, learning rate).

File format ("neuralnet-checkpoint", version 2): a safetensors file with

* tensors ``weights.layers.<i>.weight`` / ``weights.layers.<i>.bias``: the parameters at the
  end of the epoch, named and shaped as in a model file (see ``neuralnet.io``);
* tensors ``state.<path>``: every array of the optimizer's, the random generators' and the
  callbacks' states (``state.optimizer.velocity.0``, ``state.rng.shuffle.state.key``, ...);
* under the metadata key ``"neuralnet"`` one JSON document::

      {"format": "neuralnet-checkpoint", "format_version": 2,
       "epoch": 3, "lr": 0.1, "seconds": 1.9,
       "architecture": {...}, "config": {...}, "data": {...},
       "history": [{"epoch": 1, "lr": 0.1, "train_loss": ..., ...}, ...],
       "optimizer": {...}, "rng": {"shuffle": {...}, "dropout": [{...}, ...]},
       "callbacks": {"early_stopping": {...}}}

  in which each array of a state is replaced by ``{"__tensor__": "state.<path>"}``.
  ``rng.shuffle`` is the shuffling RandomState (``get_state(legacy=False)``), ``rng.dropout``
  the bit-generator state of the generator of each random layer (Dropout and RandomShift),
  in layer order. ``architecture`` is the model file's (see ``neuralnet.serving.modelfile``);
  version 1 checkpoints (neuralnet 0.1) held the older form of it and still load.

Like model files, checkpoints hold only JSON and raw arrays: loading executes nothing.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.network import Network
from ..serving.files import ModelFileError, atomic_write_bytes, check_format, read_safetensors, safetensors_bytes
from ..serving.modelfile import architecture_of, network_from_tensors
from .callbacks import Callback
from .trainer import EpochSnapshot, Trainer

__all__ = [
    "CHECKPOINT_FILENAME",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "Checkpointer",
    "checkpoint_bytes",
    "save_checkpoint",
    "load_checkpoint",
    "restore_checkpoint",
]

CHECKPOINT_FILENAME = "checkpoint.safetensors"
CHECKPOINT_FORMAT = "neuralnet-checkpoint"
CHECKPOINT_VERSION = 2
READABLE_VERSIONS = (1, 2)
TENSOR_KEY = "__tensor__"


class CheckpointError(ModelFileError):
    """A checkpoint that is missing, corrupted, of another version, or does not fit the run."""


# --- states as JSON plus tensors ------------------------------------------------------------


def _encode(value: Any, name: str, tensors: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON-ready data; each array goes to ``tensors[name]`` and is replaced by
    ``{"__tensor__": name}`` (names follow the path: ``state.optimizer.velocity.0``)."""
    if isinstance(value, np.ndarray):
        tensors[name] = np.ascontiguousarray(value)
        return {TENSOR_KEY: name}
    if isinstance(value, dict):
        return {str(key): _encode(item, f"{name}.{key}", tensors) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{name}.{index}", tensors) for index, item in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint ({name})")


def _decode(value: Any, tensors: dict[str, np.ndarray], path: Path) -> Any:
    if isinstance(value, dict):
        if set(value) == {TENSOR_KEY}:
            try:
                return tensors[value[TENSOR_KEY]]
            except (KeyError, TypeError):
                raise CheckpointError(
                    f"{path}: the header refers to a tensor {value[TENSOR_KEY]!r} that the file does not hold"
                ) from None
        return {key: _decode(item, tensors, path) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, tensors, path) for item in value]
    return value


def _check_same_structure(current: Any, saved: Any, where: str, path: Path) -> None:
    """Refuse a saved state whose keys, lengths, shapes or dtypes differ from the current one's."""
    if isinstance(current, np.ndarray):
        if not isinstance(saved, np.ndarray) or saved.shape != current.shape or saved.dtype != current.dtype:
            found = f"{saved.dtype} {saved.shape}" if isinstance(saved, np.ndarray) else repr(saved)
            raise CheckpointError(f"{path}: {where} is {found}, but this run needs {current.dtype} {current.shape}")
    elif isinstance(current, dict):
        if not isinstance(saved, dict) or set(saved) != set(current):
            entries = sorted(saved) if isinstance(saved, dict) else saved
            raise CheckpointError(f"{path}: {where} has entries {entries!r}, but this run needs {sorted(current)}")
        for key in current:
            _check_same_structure(current[key], saved[key], f"{where}.{key}", path)
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(current):
            raise CheckpointError(
                f"{path}: {where} holds {len(saved) if isinstance(saved, list) else saved!r} "
                f"entries, but this run needs {len(current)}"
            )
        for index, (mine, theirs) in enumerate(zip(current, saved)):
            _check_same_structure(mine, theirs, f"{where}.{index}", path)


# --- the checkpoint ------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A training run's state at the end of an epoch, as read from a checkpoint file."""

    epoch: int
    weights: dict[str, np.ndarray]
    optimizer_state: dict
    rng_state: Any
    dropout_rng_states: list
    lr: float
    seconds: float
    history: list[dict]
    architecture: dict
    config: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    callbacks: dict = field(default_factory=dict)


def checkpoint_bytes(
    trainer: Trainer,
    snapshot: EpochSnapshot | None = None,
    *,
    config: dict | None = None,
    data: dict | None = None,
    callbacks: dict[str, Callback] | None = None,
    scratch: Network | None = None,
) -> bytes:
    """The bytes of the checkpoint file of ``snapshot`` (see ``save_checkpoint``)."""
    if snapshot is None:
        snapshot = trainer.snapshot if trainer.snapshot is not None else trainer.capture()
    scratch = scratch if scratch is not None else trainer.network.clone()
    scratch.load_flat_values(snapshot.weights)
    tensors = {f"weights.{name}": value for name, value in scratch.state_dict().items()}
    header = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "epoch": int(snapshot.epoch),
        "lr": float(snapshot.lr),
        "seconds": float(snapshot.seconds),
        "architecture": architecture_of(scratch),
        "config": config or {},
        "data": data or {},
        "history": [row for row in trainer.history.rows if row["epoch"] <= snapshot.epoch],
        "optimizer": _encode(snapshot.optimizer_state, "state.optimizer", tensors),
        "rng": {
            "shuffle": _encode(snapshot.rng_state, "state.rng.shuffle", tensors),
            "dropout": _encode(list(snapshot.dropout_rng_states), "state.rng.dropout", tensors),
        },
        "callbacks": {
            name: _encode(callback.state_dict(), f"state.callbacks.{name}", tensors)
            for name, callback in (callbacks or {}).items()
        },
    }
    return safetensors_bytes(tensors, header)


def save_checkpoint(
    path: str | Path,
    trainer: Trainer,
    snapshot: EpochSnapshot | None = None,
    *,
    config: dict | None = None,
    data: dict | None = None,
    callbacks: dict[str, Callback] | None = None,
    scratch: Network | None = None,
) -> Path:
    """Write ``snapshot`` (default: ``trainer.snapshot``, else the trainer's state now), the
    history up to it, and the callbacks' states to ``path``, atomically, replacing the
    previous checkpoint.

    ``scratch``: a network of the same architecture whose weights may be overwritten (the
    trainer's network is never read: it may already be training the next epoch).
    """
    content = checkpoint_bytes(trainer, snapshot, config=config, data=data, callbacks=callbacks, scratch=scratch)
    return atomic_write_bytes(path, content, overwrite=True)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and check a checkpoint file (or the checkpoint of a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILENAME
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    tensors, header = read_safetensors(path, CheckpointError)
    version = check_format(path, header, CHECKPOINT_FORMAT, READABLE_VERSIONS, CheckpointError)
    architecture, _ = network_from_tensors(
        path, header.get("architecture"), tensors, CheckpointError, prefix="weights.", version=version
    )
    epoch, history = header.get("epoch"), header.get("history")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
        raise CheckpointError(f"{path}: epoch {epoch!r} is not a positive integer")
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise CheckpointError(f"{path}: the history is not a list of rows")
    if [row.get("epoch") for row in history] != list(range(1, epoch + 1)):
        raise CheckpointError(
            f"{path}: the history has epochs {[row.get('epoch') for row in history]}, expected 1 to {epoch}"
        )
    rng = header.get("rng")
    if not isinstance(rng, dict) or not isinstance(rng.get("dropout"), list):
        raise CheckpointError(f"{path}: the random generators' states are missing")
    try:
        lr, seconds = float(header["lr"]), float(header["seconds"])
        optimizer = _decode(header["optimizer"], tensors, path)
        callbacks = _decode(header.get("callbacks", {}), tensors, path)
    except (KeyError, TypeError, ValueError) as problem:
        raise CheckpointError(f"{path}: incomplete checkpoint header ({problem})") from None
    if not isinstance(optimizer, dict) or not isinstance(callbacks, dict):
        raise CheckpointError(f"{path}: the optimizer's or the callbacks' state is not an object")
    shuffle_state = _decode(rng.get("shuffle"), tensors, path)
    dropout_states = _decode(rng["dropout"], tensors, path)
    _check_generator_states(path, shuffle_state, dropout_states)
    return Checkpoint(
        epoch=epoch,
        weights={name[len("weights.") :]: value for name, value in tensors.items() if name.startswith("weights.")},
        optimizer_state=optimizer,
        rng_state=shuffle_state,
        dropout_rng_states=dropout_states,
        lr=lr,
        seconds=seconds,
        history=history,
        architecture=architecture,
        config=header.get("config") or {},
        data=header.get("data") or {},
        callbacks=callbacks,
    )


#: the bit generators a checkpoint may name (NumPy's own)
BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")


def _check_generator_states(path: Path, shuffle_state: Any, dropout_states: list) -> None:
    """Refuse generator states that NumPy cannot take (out-of-range numbers, wrong types, unknown
    generators): each is tried on a generator of its own, never on the run's."""
    try:
        if shuffle_state is not None:
            np.random.RandomState().set_state(shuffle_state)
        for state in dropout_states:
            name = state.get("bit_generator") if isinstance(state, dict) else None
            if name not in BIT_GENERATORS:
                raise ValueError(f"unknown bit generator {name!r}; expected one of {list(BIT_GENERATORS)}")
            getattr(np.random, name)().state = state
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError, IndexError) as problem:
        raise CheckpointError(
            f"{path}: a random generator's state cannot be restored ({type(problem).__name__}: {problem})"
        ) from None


def restore_checkpoint(
    trainer: Trainer,
    checkpoint: Checkpoint,
    callbacks: dict[str, Callback] | None = None,
    path: str | Path = "the checkpoint",
) -> EpochSnapshot:
    """Put ``trainer`` (its network, optimizer, generators, history, epoch count) and the
    named ``callbacks`` back into the state ``checkpoint`` recorded; ``trainer.fit`` then
    continues with the next epoch. Raises ``CheckpointError`` if the checkpoint does not fit."""
    path = Path(path)
    network = trainer.network
    try:
        network.load_state_dict(checkpoint.weights)
    except ValueError as problem:
        raise CheckpointError(f"{path}: the weights do not fit this network ({problem})") from None
    _check_same_structure(trainer.optimizer.state_dict(), checkpoint.optimizer_state, "optimizer", path)
    snapshot = EpochSnapshot(
        checkpoint.epoch,
        network.flat_values.copy(),
        checkpoint.optimizer_state,
        checkpoint.rng_state,
        checkpoint.lr,
        checkpoint.seconds,
        list(checkpoint.dropout_rng_states),
    )
    saved_callbacks = checkpoint.callbacks
    for name, callback in (callbacks or {}).items():
        if name not in saved_callbacks:
            raise CheckpointError(
                f"{path}: holds no state for the callback {name!r} (it has {sorted(saved_callbacks)})"
            )
        _check_same_structure(
            _structure_of(callback.state_dict()), _structure_of(saved_callbacks[name]), f"callbacks.{name}", path
        )
    try:
        trainer.resume_from(snapshot, checkpoint.history)
    except (ValueError, TypeError, KeyError, OverflowError) as problem:
        raise CheckpointError(f"{path}: the random generators' states do not fit this run ({problem})") from None
    for name, callback in (callbacks or {}).items():
        callback.load_state_dict(saved_callbacks[name])
    return snapshot


def _structure_of(state: Any) -> Any:
    """The keys of a callback's state (its values may be None before the first epoch)."""
    return {key: None for key in state} if isinstance(state, dict) else state


class Checkpointer(Callback):
    """Writes the run's checkpoint each time an epoch's row reaches the history.

    It uses ``trainer.snapshot`` (the state the row describes), never the live network,
    and must come after the callbacks whose state it saves (``callbacks``, by name) in the
    trainer's list of callbacks, so that their state includes the row.

    The file's content is made on the training thread (under a millisecond for the chapter's
    network); writing it, with its fsync, happens on a thread of its own, so the disk never
    holds training up. Each write waits for the previous one, ``wait()`` waits for the last
    (``on_train_end`` does; after an exception in ``fit``, call it yourself) and raises its
    error, if any. ``saved_epoch`` is the epoch of the checkpoint last written to disk.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        config: dict | None = None,
        data: dict | None = None,
        callbacks: dict[str, Callback] | None = None,
    ):
        self.path = Path(path)
        self.config, self.data = config, data
        self.callbacks = dict(callbacks or {})
        self.saved_epoch: int | None = None
        self._scratch: Network | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def on_train_begin(self, trainer):
        """Make the scratch network the checkpoints are written from (a clone of the trainer's)."""
        self._scratch = trainer.network.clone()

    def on_epoch_end(self, trainer, row):
        """Wait for the previous write, make the checkpoint of ``trainer.snapshot`` and hand it to
        the writing thread; never stops training."""
        self.wait()
        content = checkpoint_bytes(
            trainer,
            trainer.snapshot,
            config=self.config,
            data=self.data,
            callbacks=self.callbacks,
            scratch=self._scratch,
        )
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuralnet-checkpoint")
        self._pending = self._writer.submit(self._write, content, trainer.snapshot.epoch)
        return False

    def _write(self, content: bytes, epoch: int) -> None:
        atomic_write_bytes(self.path, content, overwrite=True)
        self.saved_epoch = epoch

    def poll(self, trainer) -> None:
        """Raise the error of the last write as soon as it has failed (a full disk, a lost folder)."""
        pending = self._pending
        if pending is not None and pending.done() and pending.exception() is not None:
            self.wait()

    def wait(self) -> None:
        """Wait until the last checkpoint is on disk; raise the error of its write, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def on_train_end(self, trainer):
        """Wait for the last write (raising its error, if any) and stop the writing thread."""
        try:
            self.wait()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None
