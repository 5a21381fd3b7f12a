"""scikit-learn estimators on the engine: ``MLPClassifier`` and ``MLPRegressor``.

They follow scikit-learn's conventions: the constructor only stores its arguments, ``fit``
validates them (``_parameter_constraints``, checked by scikit-learn's own machinery) and
the data (``validate_data``), and everything learned ends in an underscore::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from neuralnet import MLPClassifier

    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(256,), max_iter=10))
    model.fit(X_train, y_train).score(X_test, y_test)

All the mathematics is the engine's, and the estimators build nothing themselves: they fill
the project's one configuration (``TrainingConfig``, through ``CONFIG_KEYS``) and call the one
builder (``neuralnet.runs.builder``), which makes the network, optimizer, schedule, callbacks
and trainer. This module only translates between scikit-learn's vocabulary and that one.
"""

from __future__ import annotations

import math
import numbers
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .engine.network import Network
from .engine.schedules import get_schedule
from .runs.builder import (
    build_callbacks,
    build_network,
    build_optimizer,
    build_schedule,
    build_trainer,
    optimizer_settings,
)
from .runs.config import HIDDEN_ACTIVATIONS, SETTINGS, ConfigError, Setting, TrainingConfig
from .serving.modelfile import architecture_of
from .training.callbacks import Callback
from .training.trainer import TrainingDiverged

__all__ = ["MLPClassifier", "MLPRegressor", "CONFIG_KEYS", "estimator_params"]

#: the estimators' parameter -> the configuration key it fills (scikit-learn's names on the left);
#: ``early_stopping`` with ``n_iter_no_change`` fills ``early_stopping`` (the patience)
CONFIG_KEYS = {
    "hidden_layer_sizes": "hidden",
    "activation": "activation",
    "loss": "loss",
    "optimizer": "optimizer",
    "learning_rate": "lr",
    "momentum": "momentum",
    "nesterov": "nesterov",
    "betas": "betas",
    "eps": "eps",
    "rmsprop_alpha": "alpha",
    "weight_decay": "weight_decay",
    "l1": "l1",
    "max_grad_norm": "max_grad_norm",
    "dropout": "dropout",
    "schedule": "schedule",
    "plateau_patience": "plateau_patience",
    "plateau_factor": "plateau_factor",
    "warmup_epochs": "warmup_epochs",
    "batch_size": "batch_size",
    "max_iter": "epochs",
    "init": "init",
    "random_state": "seed",
    "dtype": "dtype",
    "threads": "threads",
    "layers": "layers",
}
#: the configuration keys that only apply with SGD (scikit-learn's convention: ignored otherwise)
SGD_ONLY = ("momentum", "nesterov")
#: the configuration keys that decide the network's shape (a warm start may not change them)
ARCHITECTURE_KEYS = ("hidden", "activation", "loss", "init", "dropout", "dtype", "task")


def estimator_params(values: dict) -> dict:
    """Configuration values as the estimators' parameters.

    ``{"lr": 0.1, "early_stopping": 5}`` -> ``{"learning_rate": 0.1, "early_stopping": True,
    "n_iter_no_change": 5}``.

    Parameters
    ----------
    values : dict
        Values by configuration key (of ``CONFIG_KEYS`` and ``early_stopping``, the patience or
        None).

    Returns
    -------
    dict
        The values by the estimators' parameter names (hidden sizes and betas as tuples).
    """
    names = {key: name for name, key in CONFIG_KEYS.items()}
    params: dict[str, Any] = {}
    for key, value in values.items():
        if key == "early_stopping":
            params.update(
                early_stopping=value is not None, **({"n_iter_no_change": value} if value is not None else {})
            )
        elif key in ("hidden", "betas"):
            params[names[key]] = tuple(value)
        else:
            params[names[key]] = value
    return params


def _constraint(spec: Setting) -> list:
    """scikit-learn's constraint for a configuration ``Setting`` (the same bounds and choices)."""
    if spec.kind == "choice":
        return [StrOptions(set(spec.choices))]
    if spec.kind == "bool":
        return ["boolean"]
    if spec.kind == "floats":  # each number checked by the configuration
        return ["array-like"]
    closed = {(False, False): "both", (True, False): "right", (False, True): "left", (True, True): "neither"}
    interval = Interval(
        Integral if spec.kind == "int" else Real,
        spec.low,
        spec.high,
        closed=closed[(spec.low_open or spec.low is None, spec.high_open or spec.high is None)],
    )
    return [interval, None] if spec.optional else [interval]


class _ValidationScore(Callback):
    """Puts the estimator's ``score`` on the held-out part into each row as ``valid_score``
    (for early stopping, which comes after it) and keeps the scores in order."""

    def __init__(self, score_function, X_valid: np.ndarray, y_valid: np.ndarray, weights: np.ndarray | None = None):
        self.score_function, self.X_valid, self.y_valid, self.weights = score_function, X_valid, y_valid, weights
        self.scores: list[float] = []
        self._network: Network | None = None

    def on_epoch_end(self, trainer, row):
        if self._network is None:
            self._network = trainer.network.clone()
        self._network.load_flat_values(trainer.snapshot.weights)  # the weights the row describes
        row["valid_score"] = score = float(
            self.score_function(self._network, self.X_valid, self.y_valid, row, self.weights)
        )
        self.scores.append(score)
        return False


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the training loop."""

    _parameter_constraints: dict = {
        **{
            name: _constraint(SETTINGS[key])
            for name, key in CONFIG_KEYS.items()
            if name not in ("hidden_layer_sizes", "activation", "random_state", "dtype", "loss", "layers")
        },
        "layers": [list, str, None],
        "input_shape": ["array-like", None],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS) | {"logistic"})],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"float32", "float64"}), Options(type, {np.float32, np.float64})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "callbacks": [list, tuple, None],
    }

    # -- what the subclasses define ----------------------------------------------------------
    _task = "classification"
    _random_seed: int  # the seed of the first fit (set there), which later calls continue with

    def _loss_name(self) -> str:
        raise NotImplementedError

    def _prepare_targets(self, y, first_call: bool, incremental: bool, classes=None) -> np.ndarray:
        """y as the trainer takes it (class indices [n] or float targets [n, k]); sets the
        target attributes (classes_, ...) on the first call."""
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _validation_score(
        self, network: Network, X: np.ndarray, y: np.ndarray, row: dict, weights: np.ndarray | None
    ) -> float:
        raise NotImplementedError

    def _example_weights(self, y, sample_weight, incremental: bool) -> np.ndarray | None:
        """The weight of each example: ``sample_weight`` (times the classes' weights)."""
        return None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)

    #: the history column early stopping watches (the classifier's score is the accuracy)
    _monitor = "valid_score"
    #: the fewest held-out examples the validation score is defined for
    _min_validation = 1

    def _stratify(self, y: np.ndarray, n_valid: int) -> np.ndarray | None:
        return None

    def _split_validation(self, X: np.ndarray, targets: np.ndarray, weights: np.ndarray):
        """Hold out ``validation_fraction`` of the examples (at least ``_min_validation``):
        X_train, X_valid, y_train, y_valid, weights_train, weights_valid."""
        n = X.shape[0]
        n_valid = max(math.ceil(self.validation_fraction * n), self._min_validation)
        if n - n_valid < 1:
            raise ValueError(
                f"early_stopping=True holds out validation_fraction={self.validation_fraction} of the "
                f"training data (at least {self._min_validation} examples) and trains on the rest, "
                f"which needs at least {self._min_validation + 1} samples; got n_samples={n}"
            )
        return train_test_split(
            X,
            targets,
            weights,
            test_size=n_valid,
            random_state=self._random_seed,
            stratify=self._stratify(targets, n_valid),
        )

    # -- the configuration -----------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    def _dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(np.ravel(sizes).tolist())
        if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and int(h) >= 1 for h in sizes):
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers (units per hidden layer), "
                f"got {self.hidden_layer_sizes!r}"
            )
        return [int(h) for h in sizes]

    def _seed(self) -> int:
        """An int random_state is the seed itself; None or a RandomState draws one."""
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _config(self, seed: int) -> TrainingConfig:
        """The estimator's parameters in the configuration vocabulary, checked there (a
        ``ValueError`` names the estimator's parameters involved)."""
        values = {key: getattr(self, name) for name, key in CONFIG_KEYS.items() if name != "loss"}
        values["betas"] = [float(b) if isinstance(b, numbers.Real) else b for b in np.ravel(self.betas).tolist()]
        if values["layers"] is not None and not isinstance(values["layers"], str):
            values["layers"] = [dict(spec) if isinstance(spec, dict) else spec for spec in values["layers"]]
        values.update(
            hidden=self._hidden_sizes(),
            seed=seed,
            dtype=self._dtype().name,
            task=self._task,
            loss=self._loss_name(),
            early_stopping=self.n_iter_no_change if self.early_stopping else None,
            activation="sigmoid" if self.activation == "logistic" else self.activation,
        )
        if self.optimizer != "sgd":
            for key in SGD_ONLY:
                values[key] = SETTINGS[key].normalize(getattr(TrainingConfig, key))
        try:
            return TrainingConfig(**values)
        except ConfigError as error:
            names = {key: name for name, key in CONFIG_KEYS.items()}
            given = ", ".join(
                f"{names[key]}={getattr(self, names[key])!r}"
                for key in error.keys
                if key in names and hasattr(self, names[key])
            )
            raise ValueError(f"{error} (the {type(self).__name__} parameters {given})") from None

    # -- fitting -------------------------------------------------------------------------------
    def _input_shape(self, n_features: int) -> tuple[int, ...]:
        """The shape of one example: ``input_shape`` (the rows of X reshaped to it), else the rows."""
        if self.input_shape is None:
            return (n_features,)
        shape = tuple(int(v) for v in np.ravel(self.input_shape))
        if int(np.prod(shape)) != n_features:
            raise ValueError(
                f"input_shape={self.input_shape!r} holds {int(np.prod(shape))} values, but X has {n_features} features"
            )
        return shape

    def _initialize(self, config: TrainingConfig, n_features: int) -> None:
        """A new network and trainer; forgets every earlier fit."""
        self.network_ = build_network(config, self._input_shape(n_features), self._n_outputs())
        self.architecture_ = architecture_of(self.network_)
        self._trainer = build_trainer(config, self.network_)
        self._fitted_config = config
        self._validation_scores: list[float] = []
        self._validation_losses: list[float] = []

    def _continue(self, config: TrainingConfig) -> None:
        """Check that the parameters still describe the fitted network; take up changed
        optimizer settings (a new optimizer, the same weights)."""
        fitted = self._fitted_config
        changed = [key for key in ARCHITECTURE_KEYS if getattr(config, key) != getattr(fitted, key)]
        if changed:
            raise ValueError(
                f"warm_start and partial_fit continue training the fitted network, but {changed} "
                f"changed since it was built; call fit with warm_start=False to start again"
            )
        if optimizer_settings(config) != optimizer_settings(fitted):
            self._trainer.replace_optimizer(build_optimizer(config, self.network_))
        self._fitted_config = config

    def _user_callbacks(self) -> list[Callback]:
        callbacks = list(self.callbacks or [])
        for callback in callbacks:
            if not callable(getattr(callback, "on_epoch_end", None)):
                raise TypeError(
                    f"callbacks must be neuralnet callbacks (neuralnet.training.callbacks.Callback), got {callback!r}"
                )
        return callbacks

    def _fit(self, X, y, *, incremental: bool, classes=None, sample_weight=None):
        first_call = not hasattr(self, "network_") or not (incremental or self.warm_start)
        # every parameter checked before any state changes
        config = self._config(self._seed() if first_call else self._random_seed)
        user_callbacks = self._user_callbacks()
        X, y = validate_data(
            self,
            X,
            y,
            reset=first_call,
            dtype=self._dtype(),
            multi_output=isinstance(self, RegressorMixin),
            y_numeric=isinstance(self, RegressorMixin),
        )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        weights = self._example_weights(y, sample_weight, incremental)
        targets = self._prepare_targets(y, first_call, incremental, classes)
        if first_call:
            self._random_seed = config.seed
            self._initialize(config, X.shape[1])
        else:
            self._continue(config)
        trainer = self._trainer

        callbacks: list[Callback] = []
        X_valid = y_valid = weights_valid = None
        X_train, y_train, weights_train = X, targets, weights
        scorer = None
        named = build_callbacks(config, monitor=self._monitor)
        if self.early_stopping and not incremental:
            X_train, X_valid, y_train, y_valid, weights_train, weights_valid = self._split_validation(
                X, targets, weights if weights is not None else np.ones(len(X))
            )
            if weights is None:
                weights_train = weights_valid = None
            scorer = _ValidationScore(self._validation_score, X_valid, y_valid, weights_valid)
            callbacks = [scorer, *named.values()]
        elif not incremental:  # reduce-on-plateau watches the training loss
            callbacks = [callback for name, callback in named.items() if name != "early_stopping"]
        callbacks += user_callbacks

        epochs = 1 if incremental else config.epochs
        trainer.restart_schedule(get_schedule("constant") if incremental else build_schedule(config))
        try:
            trainer.fit(
                X_train,
                y_train,
                epochs=trainer.epoch + epochs,
                batch_size=min(config.batch_size, X_train.shape[0]),
                X_valid=X_valid,
                y_valid=y_valid,
                callbacks=callbacks,
                drop_last=False,
                progress=False,
                threads=config.threads,
                log=self._log if self.verbose else None,
                sample_weight=weights_train,
                valid_weight=weights_valid,
            )
        except TrainingDiverged:
            # the trainer went back to the last finished epoch; without one nothing is usable
            if trainer.epoch == 0:
                del self.network_, self._trainer
            else:
                self._record(trainer, scorer.scores if scorer else None)
            raise
        self._record(trainer, scorer.scores if scorer else None)
        return self

    # the fitted attributes _record sets (None: not measured in this kind of fit)
    validation_scores_: list[float] | None
    validation_loss_curve_: list[float] | None
    best_validation_score_: float | None
    best_loss_: float | None

    def _record(self, trainer, validation_scores: list[float] | None) -> None:
        """The fitted attributes that describe the training so far."""
        self.n_iter_ = trainer.epoch
        self.loss_curve_ = [float(v) for v in trainer.history["train_loss"]]
        if validation_scores is not None:
            self._validation_scores.extend(validation_scores)
            self._validation_losses.extend(float(v) for v in trainer.history["valid_loss"][-len(validation_scores) :])
            self.validation_scores_ = list(self._validation_scores)
            self.validation_loss_curve_ = list(self._validation_losses)
            self.best_validation_score_ = max(self.validation_scores_, default=None)
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = self.validation_loss_curve_ = None
            self.best_loss_ = min(self.loss_curve_, default=None)

    def _log(self, row: dict) -> None:
        line = f"Epoch {row['epoch']}: train loss {row['train_loss']:.6f}"
        if not np.isnan(row.get("valid_loss", np.nan)):
            line += f", validation loss {row['valid_loss']:.6f}"
        print(line, flush=True)

    def _output(self, X) -> np.ndarray:
        """The network's output for X (validated against what fit saw), in float64."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.network_.dtype)
        return self.network_.predict_output(X).astype(np.float64)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multilayer perceptron classifier, trained by this project's NumPy engine.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(50,)
        Units in each hidden layer, e.g. ``(512, 256)``; ``()`` gives no hidden layer
        (multinomial logistic regression).
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "logistic", "identity"}, default="relu"
        Activation of the hidden layers ("logistic" is the sigmoid).
    loss : {"cross-entropy", "mse"}, default="cross-entropy"
        "cross-entropy": softmax output fused with the cross-entropy. "mse": the chapter's
        network, sigmoid outputs trained on the squared error to one-hot targets
        (``loss="mse", activation="sigmoid", init="normal", optimizer="sgd", momentum=0,
        learning_rate=0.1, batch_size=100`` is the chapter's recipe).
    optimizer : {"adam", "adamw", "sgd", "rmsprop", "adagrad"}, default="adam"
        The optimizer, with PyTorch's update rules: Adam, AdamW (decoupled weight decay),
        mini-batch stochastic gradient descent, RMSprop, Adagrad.
    learning_rate : float > 0, default=1e-3
        The (initial) step size.
    momentum : float in [0, 1), default=0.9
        Momentum of SGD; only used when ``optimizer="sgd"``.
    nesterov : bool, default=False
        Nesterov momentum; only used when ``optimizer="sgd"`` (needs ``momentum > 0``).
    betas : (float, float), default=(0.9, 0.999)
        Adam's and AdamW's decay rates of the moments.
    eps : float > 0 or None, default=None
        The term that keeps Adam, AdamW, RMSprop and Adagrad from dividing by zero (None: the
        optimizer's default, 1e-8, or 1e-10 for Adagrad).
    rmsprop_alpha : float in [0, 1), default=0.99
        RMSprop's smoothing constant (PyTorch's ``alpha``; scikit-learn's ``alpha``, the L2
        penalty, is ``weight_decay`` here).
    weight_decay : float >= 0 or None, default=None
        L2 regularization: ``weight_decay * w`` is added to the gradient of every weight
        (not the biases), i.e. ``weight_decay / 2 * ||W||^2`` is added to the mean loss; for
        AdamW it is decoupled (``w <- w - lr * weight_decay * w``). None: the optimizer's
        default, 0, or 0.01 for AdamW.
    l1 : float >= 0, default=0.0
        L1 regularization: ``l1 * sign(w)`` is added to the gradient of every weight.
    max_grad_norm : float > 0 or None, default=None
        Clip the gradients to this global L2 norm before each step.
    dropout : float in [0, 1), default=0.0
        Probability of dropping each hidden unit while training (inverted dropout; off in
        ``predict``).
    schedule : {"constant", "step", "exponential", "cosine"}, default="constant"
        Learning-rate schedule over the ``max_iter`` epochs of each ``fit`` call (a warm
        start restarts it; ``partial_fit`` uses the constant rate).
    plateau_patience, plateau_factor : int >= 1 and float in (0, 1), default=10 and 0.1
        With ``schedule="plateau"``: the rate is multiplied by ``plateau_factor`` when the
        validation loss (the training loss without early stopping) has not improved for more
        than ``plateau_patience`` epochs.
    warmup_epochs : int >= 0, default=0
        Raise the learning rate linearly from 0 over the first epochs, step by step.
    batch_size : int >= 1, default=128
        Examples per mini-batch; clipped to the number of training examples. The last
        mini-batch of an epoch may be smaller (every example is used).
    max_iter : int >= 1, default=50
        Epochs (passes over the training data) per ``fit`` call.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), stop when its
        accuracy has not improved for ``n_iter_no_change`` epochs, and keep the weights of
        the best epoch.
    validation_fraction : float in (0, 1), default=0.1
        Fraction of the training data held out for early stopping.
    n_iter_no_change : int >= 1, default=10
        Patience of early stopping, in epochs.
    init : {"auto", "he", "glorot", "xavier", "normal"}, default="auto"
        Weight initializer: "auto" is He for ReLU-like activations and Glorot otherwise;
        "normal" is the chapter's N(0, 0.1).
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the dropout masks, the shuffling and the validation split. An
        int gives bit-identical weights for the same data.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the network; X is converted to it once in ``fit``.
    warm_start : bool, default=False
        When True, ``fit`` continues training the fitted network (its weights, the
        optimizer's state and the shuffling) for ``max_iter`` more epochs.
    verbose : bool or int, default=False
        Print the training (and validation) loss after every epoch.
    threads : int or None, default=1
        BLAS threads for the mini-batches. With one, each epoch's evaluation (for
        ``loss_curve_``) runs on a second thread at the same time; None lets the engine
        choose (all cores for large networks), which on a busy 2-core machine was many
        times slower (OpenBLAS threads waiting for a core).

    layers : list of dict, str or None, default=None
        The network as a stack of layers, in place of ``hidden_layer_sizes`` and ``dropout``: layer
        specs (``[{"type": "conv2d", "out_channels": 16, "kernel_size": 3}, {"type": "relu"}, ...]``),
        the short syntax (``"conv2d(16, 3), relu, maxpool2d(2), flatten, dense(64), relu"``) or a named
        stack ("cnn", "lenet5"). The output layer for the classes is added.
    input_shape : tuple of int or None, default=None
        The shape of one example when the rows of X are images, e.g. ``(1, 28, 28)`` for a
        convolutional ``layers`` stack on MNIST's 784 pixels (None: the rows as they are).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying ``sample_weight``: ``{label: weight}`` or
        "balanced" (``n_samples / (n_classes * np.bincount(y))``), scikit-learn's meaning.
    callbacks : list of neuralnet callbacks or None, default=None
        ``neuralnet.training.callbacks.Callback`` objects that see every epoch's row (and may
        stop training by returning True from ``on_epoch_end``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (any type ``np.unique`` sorts: integers, strings, ...).
    network_ : neuralnet.Network
        The trained engine network (``network_.state_dict()`` holds the weights).
    architecture_ : dict
        What ``network_`` is: its input shape, stack of layer specs, loss and dtype, as a model
        file records them (``neuralnet.serving.save_model(path, model.network_)``).
    loss_curve_ : list of float
        The loss on the whole training set (dropout off) after each epoch, from the first
        fit on.
    best_loss_ : float or None
        The smallest value in ``loss_curve_``; None with early stopping.
    validation_scores_ : list of float or None
        Accuracy on the held-out part after each epoch (early stopping only).
    best_validation_score_ : float or None
        The best of ``validation_scores_``: the weights are those of that epoch.
    validation_loss_curve_ : list of float or None
        The loss on the held-out part after each epoch (early stopping only).
    n_iter_ : int
        Epochs trained so far (all calls together).
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of str
        Column names of X, when X is a DataFrame with string column names.

    Notes
    -----
    ``predict_proba`` returns float64 rows that sum to 1. With ``loss="cross-entropy"``
    they are the softmax of the outputs; with ``loss="mse"`` the sigmoid outputs are
    independent numbers in (0, 1), so each row is divided by its sum (a row of zeros,
    possible only when every output underflows, becomes uniform).
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": _constraint(SETTINGS["loss"]),
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    classes_: np.ndarray  # the class labels, set by the first fit

    def __init__(
        self,
        hidden_layer_sizes=(50,),
        activation="relu",
        *,
        loss="cross-entropy",
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        nesterov=False,
        betas=(0.9, 0.999),
        eps=None,
        rmsprop_alpha=0.99,
        weight_decay=None,
        l1=0.0,
        max_grad_norm=None,
        dropout=0.0,
        schedule="constant",
        plateau_patience=10,
        plateau_factor=0.1,
        warmup_epochs=0,
        batch_size=128,
        max_iter=50,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        init="auto",
        random_state=None,
        dtype="float32",
        warm_start=False,
        verbose=False,
        threads=1,
        layers=None,
        input_shape=None,
        class_weight=None,
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.betas = betas
        self.eps = eps
        self.rmsprop_alpha = rmsprop_alpha
        self.weight_decay = weight_decay
        self.l1 = l1
        self.max_grad_norm = max_grad_norm
        self.dropout = dropout
        self.schedule = schedule
        self.plateau_patience = plateau_patience
        self.plateau_factor = plateau_factor
        self.warmup_epochs = warmup_epochs
        self.class_weight = class_weight
        self.callbacks = callbacks
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.random_state = random_state
        self.dtype = dtype
        self.warm_start = warm_start
        self.verbose = verbose
        self.threads = threads
        self.layers = layers
        self.input_shape = input_shape

    def _loss_name(self) -> str:
        return self.loss

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _prepare_targets(self, y, first_call, incremental, classes=None):
        check_classification_targets(y)
        if classes is not None:
            classes = unique_labels(classes)
            if not first_call and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()!r} differs from the classes of the earlier "
                    f"calls, {self.classes_.tolist()!r}"
                )
        elif first_call and incremental:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if first_call:
            self.classes_ = classes if classes is not None else unique_labels(y)
        elif classes is None and not incremental:
            new = unique_labels(y)
            if not np.array_equal(new, self.classes_):
                raise ValueError(
                    f"warm_start needs y to have the classes of the earlier fit, "
                    f"{self.classes_.tolist()!r}; got {new.tolist()!r}"
                )
        encoder = LabelEncoder().fit(self.classes_)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()!r} that are not among the classes {self.classes_.tolist()!r}"
            )
        return encoder.transform(y).astype(np.int64)

    def _stratify(self, y, n_valid):
        # stratified when both parts can hold every class (not for a handful of examples)
        counts = np.bincount(y)
        counts = counts[counts > 0]
        possible = counts.min() >= 2 and min(n_valid, len(y) - n_valid) >= len(counts)
        return y if possible else None

    _monitor = "valid_acc"  # the score is the accuracy the trainer measures on the held-out part

    def _validation_score(self, network, X, y, row, weights):
        return row["valid_acc"]  # weighted by the validation part's sample weights

    def _example_weights(self, y, sample_weight, incremental):
        weights = self._class_weights(y, sample_weight, incremental)
        if weights is not None and not incremental:
            weighted = np.unique(np.asarray(y)[weights > 0])
            if len(weighted) < 2:
                raise ValueError(
                    f"only the class {weighted.tolist()} has examples with a positive sample_weight; a "
                    "classifier needs examples of at least two classes"
                )
        return weights

    def _class_weights(self, y, sample_weight, incremental):
        if self.class_weight is None:
            return super()._example_weights(y, sample_weight, incremental)
        if incremental and isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' needs every class's count, which partial_fit does not see "
                "(one chunk at a time); give class_weight as a dict {class: weight}"
            )
        if isinstance(self.class_weight, dict):
            known = set(np.unique(y).tolist()) | set(getattr(self, "classes_", np.array([])).tolist())
            unknown = [label for label in self.class_weight if label not in known]
            if unknown:
                raise ValueError(
                    f"class_weight names the classes {unknown}, which y does not hold (its classes are {sorted(known)})"
                )
        weights = compute_sample_weight(self.class_weight, y)
        return weights if sample_weight is None else weights * sample_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train for ``max_iter`` epochs (from new weights, unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            The training examples.
        y : array-like of shape [n_samples]
            Their class labels.
        sample_weight : array-like of shape [n_samples] or None
            Each example's weight in the loss (weight 2 counts it twice), times
            ``class_weight``'s.

        Returns
        -------
        MLPClassifier
            self, fitted.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on (X, y), continuing from the current weights.

        Early stopping does not apply.

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            A chunk of training examples.
        y : array-like of shape [n_samples]
            Their class labels.
        classes : array-like of shape [n_classes] or None
            Every label the model will ever see: required on the first call, since a chunk
            need not hold them all.
        sample_weight : array-like of shape [n_samples] or None
            Each example's weight in the loss, as in ``fit``.

        Returns
        -------
        MLPClassifier
            self, fitted.
        """
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the examples.

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            The examples.

        Returns
        -------
        ndarray of shape [n_samples, n_classes]
            float64, each row summing to 1 (columns in the order of ``classes_``).
        """
        output = self._output(X)
        proba = self.network_.loss.probabilities(output)
        totals = proba.sum(axis=1, keepdims=True)
        empty = totals[:, 0] == 0
        proba[empty], totals[empty] = 1.0, proba.shape[1]  # all outputs underflowed: uniform
        proba /= totals
        return proba

    def predict_log_proba(self, X) -> np.ndarray:
        """The logarithm of ``predict_proba`` (-inf where a probability is 0).

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            The examples.

        Returns
        -------
        ndarray of shape [n_samples, n_classes]
            The log-probabilities.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row of X.

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            The examples.

        Returns
        -------
        ndarray of shape [n_samples]
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)  # checks that the model is fitted
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multilayer perceptron regressor, trained by this project's NumPy engine.

    The hidden layers are as in ``MLPClassifier``; the output layer is linear (identity)
    and the loss is the squared error summed over the outputs, L = (1/n) sum (f(x) - y)^2.
    The targets are used as given: scale them (e.g. ``TransformedTargetRegressor`` with a
    ``StandardScaler``) when they are far from unit size.

    Parameters
    ----------
    hidden_layer_sizes, activation, optimizer, learning_rate, momentum, nesterov, betas, eps,
    rmsprop_alpha, weight_decay, l1, max_grad_norm, dropout, schedule, plateau_patience,
    plateau_factor, warmup_epochs, batch_size, max_iter, validation_fraction, n_iter_no_change,
    init, random_state, dtype, warm_start, verbose, threads, layers, input_shape, callbacks
        As in ``MLPClassifier`` (same defaults).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its R^2 has not
        improved for ``n_iter_no_change`` epochs, and keep the weights of the best epoch.

    Attributes
    ----------
    network_, loss_curve_, best_loss_, validation_loss_curve_, n_iter_, n_features_in_, feature_names_in_
        As in ``MLPClassifier``.
    validation_scores_ : list of float or None
        R^2 on the held-out part after each epoch (early stopping only).
    best_validation_score_ : float or None
        The best of ``validation_scores_``.

    ``predict`` returns float64, of shape [n_samples] when y was 1-D in fit and
    [n_samples, n_outputs] otherwise.
    """

    def __init__(
        self,
        hidden_layer_sizes=(50,),
        activation="relu",
        *,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        nesterov=False,
        betas=(0.9, 0.999),
        eps=None,
        rmsprop_alpha=0.99,
        weight_decay=None,
        l1=0.0,
        max_grad_norm=None,
        dropout=0.0,
        schedule="constant",
        plateau_patience=10,
        plateau_factor=0.1,
        warmup_epochs=0,
        batch_size=128,
        max_iter=50,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        init="auto",
        random_state=None,
        dtype="float32",
        warm_start=False,
        verbose=False,
        threads=1,
        layers=None,
        input_shape=None,
        callbacks=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.betas = betas
        self.eps = eps
        self.rmsprop_alpha = rmsprop_alpha
        self.weight_decay = weight_decay
        self.l1 = l1
        self.max_grad_norm = max_grad_norm
        self.dropout = dropout
        self.schedule = schedule
        self.plateau_patience = plateau_patience
        self.plateau_factor = plateau_factor
        self.warmup_epochs = warmup_epochs
        self.callbacks = callbacks
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init = init
        self.random_state = random_state
        self.dtype = dtype
        self.warm_start = warm_start
        self.verbose = verbose
        self.threads = threads
        self.layers = layers
        self.input_shape = input_shape

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    _task = "regression"

    def _loss_name(self) -> str:
        return "mse"

    def _n_outputs(self) -> int:
        return self._n_targets

    def _prepare_targets(self, y, first_call, incremental, classes=None):
        y = np.asarray(y, dtype=self._dtype())
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        if first_call:
            self._y_was_1d = y.ndim == 1
            self._n_targets = targets.shape[1]
        elif targets.shape[1] != self._n_targets:
            raise ValueError(f"y has {targets.shape[1]} targets, but the fitted network predicts {self._n_targets}")
        return np.ascontiguousarray(targets)

    _min_validation = 2  # R^2 needs two examples

    def _validation_score(self, network, X, y, row, weights):
        return r2_score(y, network.predict_output(X), sample_weight=weights)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train for ``max_iter`` epochs (from new weights, unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            The training examples.
        y : array-like of shape [n_samples] or [n_samples, n_targets]
            Their targets.
        sample_weight : array-like of shape [n_samples] or None
            Each example's weight in the loss, as in ``MLPClassifier.fit``.

        Returns
        -------
        MLPRegressor
            self, fitted.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on (X, y), continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            A chunk of training examples.
        y : array-like of shape [n_samples] or [n_samples, n_targets]
            Their targets.
        sample_weight : array-like of shape [n_samples] or None
            Each example's weight in the loss, as in ``MLPClassifier.fit``.

        Returns
        -------
        MLPRegressor
            self, fitted.
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X) -> np.ndarray:
        """Predicted targets of the examples.

        Parameters
        ----------
        X : array-like of shape [n_samples, n_features]
            The examples.

        Returns
        -------
        ndarray of shape [n_samples] or [n_samples, n_targets]
            float64: [n_samples] if y was 1-D in fit, else [n_samples, n_targets].
        """
        output = self._output(X)
        return output[:, 0] if self._y_was_1d else output
