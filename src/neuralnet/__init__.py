"""neuralnet: a multilayer neural network written from scratch in NumPy.

The chapter's API::

    from neuralnet import NeuralNetMLP
    model = NeuralNetMLP(num_features=784, num_hidden=50, num_classes=10)

The engine behind it: ``layers``, ``losses``, ``optim``, ``network``, ``training``.
"""

__version__ = "0.1.0"

from .chapter import (NeuralNetMLP, accuracy, compute_mse_and_acc, int_to_onehot,  # noqa: E402
                      minibatch_generator, mse_loss, sigmoid, train)
from .network import Architecture, Network, build_mlp  # noqa: E402
from .training import EarlyStopping, History, Trainer, TrainingDiverged  # noqa: E402
from .io import ModelFileError, Predictor, load  # noqa: E402

__all__ = [
    "NeuralNetMLP", "sigmoid", "int_to_onehot", "minibatch_generator", "mse_loss", "accuracy",
    "compute_mse_and_acc", "train", "Network", "Architecture", "build_mlp", "Trainer",
    "History", "EarlyStopping", "TrainingDiverged", "load", "Predictor", "ModelFileError", "MLPClassifier", "MLPRegressor", "__version__",
]


def __getattr__(name: str):
    """``neuralnet.MLPClassifier`` and ``MLPRegressor`` import scikit-learn's estimator machinery
    on first use, so that ``import neuralnet`` stays light."""
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimator
        return getattr(estimator, name)
    raise AttributeError(f"module 'neuralnet' has no attribute {name!r}")
