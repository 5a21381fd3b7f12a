"""TensorBoard logs of a training run, through tensorboardX (``pip install neuralnet-from-scratch[tensorboard]``).

``TensorBoardLogger(log_dir)`` is a callback: after every epoch it writes the history row's
losses, accuracies and learning rate as scalars (``loss/train``, ``accuracy/valid``, ``lr``...),
and a histogram of each parameter's weights (at the end of the epoch) and gradients (of the
epoch's last mini-batch): ``weights/layers.0.weight``, ``gradients/layers.0.weight``. Look at
them with ``tensorboard --logdir RUN/tensorboard``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .callbacks import Callback

if TYPE_CHECKING:  # pragma: no cover
    from tensorboardX import SummaryWriter

__all__ = ["TensorBoardLogger", "SCALARS", "require_tensorboard"]

#: history column -> the scalar's tag
SCALARS = {
    "train_loss": "loss/train",
    "valid_loss": "loss/valid",
    "train_acc": "accuracy/train",
    "valid_acc": "accuracy/valid",
    "train_mse": "mse/train",
    "valid_mse": "mse/valid",
    "lr": "lr",
    "seconds": "seconds_per_epoch",
}


def require_tensorboard():
    """tensorboardX's SummaryWriter; ImportError saying how to install it."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError(
            "--tensorboard needs the tensorboardX package: pip install 'neuralnet-from-scratch[tensorboard]'"
        ) from None
    return SummaryWriter


def _writer(log_dir):
    return require_tensorboard()(logdir=str(log_dir))


class TensorBoardLogger(Callback):
    """Scalars and weight/gradient histograms for every epoch, in ``log_dir`` (see the module).

    Parameters
    ----------
    log_dir : str or path
        The folder of the event files.
    histograms : bool, default True
        Also write the histograms of the weights and gradients.
    """

    def __init__(self, log_dir, histograms: bool = True):
        self.log_dir, self.histograms = log_dir, histograms
        self._writer: SummaryWriter | None = None
        self._gradients: dict[int, np.ndarray] = {}  # epoch -> the flat gradients of its last batch

    def on_train_begin(self, trainer):
        """Open the writer on ``log_dir`` (an ImportError without tensorboardX)."""
        if self._writer is None:
            self._writer = _writer(self.log_dir)

    def on_epoch_trained(self, trainer):
        """Keep a copy of the gradients of the epoch's last mini-batch (with ``histograms``)."""
        if self.histograms:
            self._gradients[trainer.epoch] = trainer.network.flat_grads.copy()

    def _slices(self, network):
        offset = 0
        for name, p in network.named_parameters():
            yield name, slice(offset, offset + p.value.size)
            offset += p.value.size

    def on_epoch_end(self, trainer, row):
        """Write the row's finite numbers as scalars and, with ``histograms``, the histograms of the
        weights the row describes and of the epoch's last gradients; never stops training."""
        writer = self._writer
        assert writer is not None  # made by on_train_begin
        epoch = int(row["epoch"])
        for column, tag in SCALARS.items():
            value = row.get(column)
            if isinstance(value, (int, float)) and math.isfinite(value):
                writer.add_scalar(tag, float(value), epoch)
        if self.histograms:
            weights = trainer.snapshot.weights  # the weights the row describes
            gradients = self._gradients.pop(epoch, None)
            for name, part in self._slices(trainer.network):
                writer.add_histogram(f"weights/{name}", weights[part], epoch)
                if gradients is not None:
                    writer.add_histogram(f"gradients/{name}", gradients[part], epoch)
        writer.flush()
        return False

    def on_train_end(self, trainer):
        """Close the writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
