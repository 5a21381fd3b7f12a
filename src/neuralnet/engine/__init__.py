"""The engine: the mathematics of neural networks, in NumPy.

    activations   activation functions and their derivatives (a table of in-place kernels)
    initializers  weight initializers (the chapter's N(0, 0.1), Glorot, He)
    layers        Dense, Activation, Dropout, RandomShift: forward and backward side by side
    conv          Conv2D (im2col + one product), MaxPool2D, AvgPool2D, Flatten
    normalization BatchNorm
    specs         the table of layer types, their spellings, the short syntax
    losses        MSE and softmax cross-entropy (fused, log-sum-exp)
    network       a stack of layers built from specs, with flat parameter buffers
    optim         SGD (momentum, Nesterov), Adam: each update rule beside its equation
    schedules     learning-rate schedules
    kernels       the speed kernels the layers and optimizers call (BLAS, threads, subnormals)
    gradcheck     central-difference gradient checks

Nothing here knows about files, data sets or configurations.
"""

from .conv import AvgPool2D, Conv2D, Flatten, MaxPool2D
from .layers import Activation, Dense, Dropout, Layer, Parameter, RandomShift, SpecError
from .losses import MeanSquaredError, SoftmaxCrossEntropy, get_loss
from .network import Network, build_network
from .normalization import BatchNorm
from .optim import SGD, Adam, Optimizer, get_optimizer
from .schedules import get_schedule

__all__ = [
    "Layer",
    "Parameter",
    "Dense",
    "Activation",
    "Dropout",
    "RandomShift",
    "SpecError",
    "Conv2D",
    "MaxPool2D",
    "AvgPool2D",
    "Flatten",
    "BatchNorm",
    "MeanSquaredError",
    "SoftmaxCrossEntropy",
    "get_loss",
    "Network",
    "build_network",
    "Optimizer",
    "SGD",
    "Adam",
    "get_optimizer",
    "get_schedule",
]
