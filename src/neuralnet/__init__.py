"""neuralnet: a multilayer neural network written from scratch in NumPy.

The chapter's API::

    from neuralnet import NeuralNetMLP
    model = NeuralNetMLP(num_features=784, num_hidden=50, num_classes=10)

The layers of the package, each importing only from those below it::

    chapter, estimator, tune, explain, cli, web     what users call
    runs        the configuration, the one builder, run folders, figures, experiments
    training    the trainer, callbacks, history, metrics, checkpoints
    serving     model files, Predictor, ONNX export, imaging
    datasets    IDX files, MNIST and Fashion-MNIST, the chapter's split, preprocessing
    engine      the mathematics: layers, losses, networks, optimizers, schedules, kernels
"""

__version__ = "0.2.0"

from .chapter import (  # noqa: E402
    NeuralNetMLP,
    accuracy,
    compute_mse_and_acc,
    int_to_onehot,
    minibatch_generator,
    mse_loss,
    sigmoid,
    train,
)
from .engine.network import Network, build_network  # noqa: E402
from .runs.config import TrainingConfig  # noqa: E402
from .serving.files import ModelFileError  # noqa: E402
from .serving.predictor import Predictor, load  # noqa: E402
from .training.callbacks import EarlyStopping  # noqa: E402
from .training.history import History  # noqa: E402
from .training.trainer import Trainer, TrainingDiverged  # noqa: E402

__all__ = [
    "NeuralNetMLP",
    "sigmoid",
    "int_to_onehot",
    "minibatch_generator",
    "mse_loss",
    "accuracy",
    "compute_mse_and_acc",
    "train",
    "Network",
    "build_network",
    "TrainingConfig",
    "Trainer",
    "History",
    "EarlyStopping",
    "TrainingDiverged",
    "load",
    "Predictor",
    "ModelFileError",
    "MLPClassifier",
    "MLPRegressor",
    "to_torch",
    "__version__",
]


def __getattr__(name: str):
    """``neuralnet.MLPClassifier`` and ``MLPRegressor`` import scikit-learn's estimator machinery
    on first use, so that ``import neuralnet`` stays light."""
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimator

        return getattr(estimator, name)
    if name == "to_torch":  # imports torch only when asked for
        from .serving.torch_export import to_torch

        return to_torch
    raise AttributeError(f"module 'neuralnet' has no attribute {name!r}")
