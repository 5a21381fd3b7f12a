"""Training: data checks, metrics, history, callbacks, the trainer and its checkpoints.

data         the one check of a data set; labels -> one-hot targets
metrics      loss, MSE, accuracy and the confusion matrix of a network on a data set
history      one row per epoch, CSV and JSON, the chapter's log line
callbacks    hooks into training; early stopping
trainer      the epoch loop (evaluation on a second thread, rollback, divergence checks)
checkpoints  the trainer's whole state in a file, and back
"""

from .callbacks import Callback, EarlyStopping
from .data import check_data, one_hot, prepare_targets
from .history import History, format_chapter_line
from .metrics import confusion_matrix, evaluate
from .trainer import EpochSnapshot, Trainer, TrainingDiverged

__all__ = [
    "Callback",
    "EarlyStopping",
    "check_data",
    "one_hot",
    "prepare_targets",
    "History",
    "format_chapter_line",
    "confusion_matrix",
    "evaluate",
    "EpochSnapshot",
    "Trainer",
    "TrainingDiverged",
]
