"""Runs: where a configuration becomes a trained model in a run folder.

    config      the one configuration vocabulary (``TrainingConfig``), each key declared once
    builder     config -> layer specs -> network, optimizer, schedule, callbacks, trainer
    data        the one loader of a configuration's data (chapter sets, toy problems, your files)
    folders     run folders: config.json, history, metrics, figures, model file, the lock
    figures     the chapter's figures and the others a run draws
    experiment  one run end to end: train, resume, continue, evaluate
    scoring     a finished run on other data: predictions and test metrics

The names below are imported when first used, so that ``import neuralnet`` does not load
matplotlib or the data readers.
"""

from __future__ import annotations

import importlib

from .config import ConfigError, TrainingConfig

__all__ = [
    "TrainingConfig",
    "ConfigError",
    "build",
    "train_run",
    "resume_run",
    "continue_run",
    "evaluate_run",
    "RunResult",
    "TrainingInterrupted",
    "load_data",
    "RunFolder",
    "RunFolderError",
    "FIGURE_FILES",
    "latest_run",
    "evaluate_on",
    "predict_file",
]

#: each lazily imported name -> the module that defines it
_LAZY = {
    "build": "builder",
    "train_run": "experiment",
    "resume_run": "experiment",
    "continue_run": "experiment",
    "evaluate_run": "experiment",
    "RunResult": "experiment",
    "TrainingInterrupted": "experiment",
    "load_data": "data",
    "RunFolder": "folders",
    "RunFolderError": "folders",
    "FIGURE_FILES": "folders",
    "latest_run": "folders",
    "evaluate_on": "scoring",
    "predict_file": "scoring",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
