"""The chapter's figures, drawn with matplotlib's object API (no pyplot state, no display).

Every function takes data and a path, writes a PNG there and returns the path. Images may
be raw pixels (0..255) or the chapter's scaled pixels (-1..1): ``imshow`` rescales.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..engine.network import Network
from ..serving.files import atomic_write_bytes
from ..training.history import History
from ..training.metrics import confusion_matrix
from .folders import FIGURE_FILES, RunFolder

__all__ = [
    "plot_digits_per_class",
    "plot_digit_variants",
    "plot_loss",
    "plot_accuracy",
    "plot_misclassified",
    "plot_confusion_matrix",
    "plot_hidden_weights",
    "plot_filters",
    "plot_decision_boundary",
    "animate_decision_boundary",
    "decision_grid",
    "plot_predictions",
    "draw_figures",
]

IMAGE_SIDE = 28


def Figure(**options):
    """A matplotlib figure (imported on first use: matplotlib is large, and not every use of
    neuralnet draws)."""
    from matplotlib.figure import Figure as MatplotlibFigure

    return MatplotlibFigure(**options)


def _save(fig, path: str | Path) -> Path:
    """The figure as a PNG at ``path``, written atomically (whole or not at all)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    return atomic_write_bytes(path, buffer.getvalue(), overwrite=True)


#: the shape of the images the figures show, [channels, height, width] (None: square grayscale rows)
_shown_shape: tuple | None = None


def _image(row: np.ndarray) -> np.ndarray:
    """An image row as imshow takes it: [h, w] grayscale, or [h, w, 3] colour in [0, 1] (from raw
    pixels 0..255 or the chapter's scaled -1..1)."""
    row = np.asarray(row)
    if _shown_shape is not None and _shown_shape[0] == 3:
        image = row.reshape(_shown_shape).transpose(1, 2, 0).astype(np.float64)
        return np.clip((image + 1) / 2 if image.min() < 0 or image.max() <= 1 else image / 255, 0, 1)
    if _shown_shape is not None:
        return row.reshape(_shown_shape[1:])
    side = int(round(np.sqrt(row.size)))
    if side * side != row.size:
        raise ValueError(f"an image row must have a square number of pixels, got {row.size}")
    return row.reshape(side, side)


def _image_grid(nrows: int, ncols: int, figsize):
    fig = Figure(figsize=figsize, layout="tight")
    axes = fig.subplots(nrows=nrows, ncols=ncols, sharex=True, sharey=True).flatten()
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    return fig, axes


def plot_digits_per_class(X: np.ndarray, y: np.ndarray, path, class_names: Sequence[str] | None = None) -> Path:
    """Figure 11.4: one example of each class (the first in the data), 2 x 5.

    Parameters
    ----------
    X : ndarray of shape [n_examples, n_pixels]
        Image rows (raw or scaled pixels).
    y : ndarray of shape [n_examples]
        Their class indices; the first 10 classes are shown.
    path : str or Path
        The PNG file to write.
    class_names : sequence of str or None
        The titles, by class index (None: the indices).

    Returns
    -------
    Path
        The PNG file.
    """
    classes = np.unique(y)[:10]
    fig, axes = _image_grid(2, 5, (10, 4.5))
    for ax, label in zip(axes, classes):
        ax.imshow(_image(X[y == label][0]), cmap="Greys")
        ax.set_title(class_names[label] if class_names is not None else str(label))
    for ax in axes[len(classes) :]:
        ax.axis("off")
    return _save(fig, path)


def plot_digit_variants(X: np.ndarray, y: np.ndarray, path, digit: int = 7) -> Path:
    """Figure 11.5: the first 25 examples of one class, 5 x 5.

    Parameters
    ----------
    X : ndarray of shape [n_examples, n_pixels]
        Image rows (raw or scaled pixels).
    y : ndarray of shape [n_examples]
        Their class indices.
    path : str or Path
        The PNG file to write.
    digit : int
        The class shown.

    Returns
    -------
    Path
        The PNG file.

    Raises
    ------
    ValueError
        If there is no example of the class.
    """
    examples = X[y == digit][:25]
    if len(examples) == 0:
        raise ValueError(f"there is no example of class {digit} to plot")
    fig, axes = _image_grid(5, 5, (8, 8))
    for ax, row in zip(axes, examples):
        ax.imshow(_image(row), cmap="Greys")
    for ax in axes[len(examples) :]:
        ax.axis("off")
    return _save(fig, path)


def plot_loss(history, path, column: str = "train_mse", label: str = "Mean squared error") -> Path:
    """Figure 11.7: the training MSE (or another column of the history) per epoch.

    Parameters
    ----------
    history : History or mapping of str to list of float
        The training history.
    path : str or Path
        The PNG file to write.
    column : str
        The history column drawn.
    label : str
        The y axis's label.

    Returns
    -------
    Path
        The PNG file.
    """
    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.subplots()
    values = history[column]
    ax.plot(range(1, len(values) + 1), values)
    ax.set_ylabel(label)
    ax.set_xlabel("Epoch")
    return _save(fig, path)


def plot_accuracy(history, path) -> Path:
    """Figure 11.8: training and validation accuracy (%) per epoch.

    Parameters
    ----------
    history : History or mapping of str to list of float
        The training history (its ``train_acc`` and ``valid_acc``, fractions).
    path : str or Path
        The PNG file to write.

    Returns
    -------
    Path
        The PNG file.
    """
    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.subplots()
    train_acc = [a * 100 for a in history["train_acc"]]
    valid_acc = [a * 100 for a in history["valid_acc"]]
    epochs = range(1, len(train_acc) + 1)
    ax.plot(epochs, train_acc, label="Training")
    ax.plot(epochs, valid_acc, label="Validation")
    ax.set_ylabel("Accuracy (%)")
    ax.set_xlabel("Epochs")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_misclassified(
    X: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    path,
    first: int = 1000,
    count: int = 25,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Figure 11.9: the first ``count`` misclassified images among the first ``first``.

    Each is titled "i) True: t / Predicted: p".

    Parameters
    ----------
    X : ndarray of shape [n_examples, n_pixels]
        Image rows (raw or scaled pixels).
    y_true : ndarray of shape [n_examples]
        The true class indices.
    y_pred : ndarray of shape [n_examples]
        The predicted class indices.
    path : str or Path
        The PNG file to write.
    first : int
        How many examples, from the first, are looked through.
    count : int
        The most images shown (a 5 x 5 grid).
    class_names : sequence of str or None
        The names in the titles, by class index (None: the indices).

    Returns
    -------
    Path
        The PNG file.
    """
    y_true, y_pred = np.asarray(y_true)[:first], np.asarray(y_pred)[:first]
    wrong = np.flatnonzero(y_true != y_pred)[:count]
    name = (lambda k: class_names[k]) if class_names is not None else str
    fig, axes = _image_grid(5, 5, (8, 8.5))
    for i, (ax, index) in enumerate(zip(axes, wrong)):
        ax.imshow(_image(X[index]), cmap="Greys", interpolation="nearest")
        ax.set_title(f"{i + 1}) True: {name(y_true[index])}\n Predicted: {name(y_pred[index])}", fontsize=11)
    for ax in axes[len(wrong) :]:
        ax.axis("off")
    return _save(fig, path)


def plot_confusion_matrix(
    y_true: np.ndarray, y_pred: np.ndarray, path, num_classes: int = 10, class_names: Sequence[str] | None = None
) -> Path:
    """A confusion matrix with the count in every cell.

    Parameters
    ----------
    y_true : ndarray of shape [n_examples]
        The true class indices (the rows).
    y_pred : ndarray of shape [n_examples]
        The predicted class indices (the columns).
    path : str or Path
        The PNG file to write.
    num_classes : int
        The number of classes.
    class_names : sequence of str or None
        The tick labels, by class index (None: the indices).

    Returns
    -------
    Path
        The PNG file.
    """
    counts = confusion_matrix(y_true, y_pred, num_classes)
    names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
    fig = Figure(figsize=(7, 6), layout="tight")
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(
        range(num_classes),
        names,
        rotation=45 if class_names is not None else 0,
        ha="right" if class_names is not None else "center",
    )
    ax.set_yticks(range(num_classes), names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(num_classes):
        for j in range(num_classes):
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if counts[i, j] > threshold else "black",
            )
    return _save(fig, path)


def plot_hidden_weights(weight: np.ndarray, path, max_units: int = 100) -> Path:
    """Each hidden unit's incoming weights shown as an image (28 x 28 for MNIST).

    Parameters
    ----------
    weight : ndarray of shape [n_hidden, n_pixels]
        The first dense layer's weights, e.g. [n_hidden, 784].
    path : str or Path
        The PNG file to write.
    max_units : int
        The most units shown (the first ones).

    Returns
    -------
    Path
        The PNG file.
    """
    units = weight[:max_units]
    ncols = int(np.ceil(np.sqrt(len(units))))
    nrows = int(np.ceil(len(units) / ncols))
    fig = Figure(figsize=(1.2 * ncols, 1.2 * nrows), layout="tight")
    axes = np.atleast_1d(fig.subplots(nrows=nrows, ncols=ncols)).flatten()
    for ax in axes:
        ax.axis("off")
    for k, (ax, row) in enumerate(zip(axes, units)):
        limit = np.abs(row).max() or 1.0
        ax.imshow(
            _image(row) if _shown_shape is None else row.reshape(_shown_shape[1:]),
            cmap="seismic",
            vmin=-limit,
            vmax=limit,
        )
        ax.set_title(str(k), fontsize=7)
    return _save(fig, path)


def plot_filters(weight: np.ndarray, path, max_filters: int = 64) -> Path:
    """The first convolution's filters, one small image each, blue negative, red positive.

    Parameters
    ----------
    weight : ndarray of shape [out_channels, in_channels, kh, kw]
        The filters; each image is the mean over the input channels.
    path : str or Path
        The PNG file to write.
    max_filters : int
        The most filters shown (the first ones).

    Returns
    -------
    Path
        The PNG file.
    """
    filters = weight[:max_filters].mean(axis=1)
    ncols = int(np.ceil(np.sqrt(len(filters))))
    nrows = int(np.ceil(len(filters) / ncols))
    fig = Figure(figsize=(1.0 * ncols, 1.05 * nrows), layout="tight")
    axes = np.atleast_1d(fig.subplots(nrows=nrows, ncols=ncols)).flatten()
    for ax in axes:
        ax.axis("off")
    for k, (ax, kernel) in enumerate(zip(axes, filters)):
        limit = np.abs(kernel).max() or 1.0
        ax.imshow(kernel, cmap="seismic", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(k), fontsize=7)
    fig.suptitle(f"{weight.shape[0]} filters of {weight.shape[2]}x{weight.shape[3]}", fontsize=9)
    return _save(fig, path)


def _grid(X: np.ndarray, steps: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A steps x steps grid over the points X [n, 2] (with a margin): its x and y values, and the
    grid's points [steps^2, 2]."""
    low, high = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.maximum(high - low, 1e-6)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], steps)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], steps)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.c_[gx.ravel(), gy.ravel()].astype(X.dtype)


def _boundary_axes(ax, xs, ys, labels: np.ndarray, X, y, n_classes: int, title: str, class_names=None, features=None):
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    colours = colormaps["tab10"] if n_classes <= 10 else colormaps["tab20"]
    ax.contourf(
        xs,
        ys,
        labels.reshape(len(ys), len(xs)),
        levels=np.arange(n_classes + 1) - 0.5,
        colors=[colours(k) for k in range(n_classes)],
        alpha=0.35,
    )
    ax.scatter(X[:, 0], X[:, 1], c=[colours(int(k)) for k in y], s=9, edgecolors="black", linewidths=0.3)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    first, second = features if features is not None and len(features) == 2 else ("x1", "x2")
    ax.set_xlabel(f"{first} (standardized, as the network sees it)")
    ax.set_ylabel(f"{second} (standardized)")
    ax.set_title(title)
    if class_names is not None and n_classes <= 10:
        ax.legend(
            [
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markerfacecolor=colours(k),
                    markeredgecolor="black",
                    markeredgewidth=0.3,
                )
                for k in range(n_classes)
            ],
            [f"class {name}" for name in class_names],
            loc="upper right",
            fontsize=8,
            framealpha=0.8,
        )


def plot_decision_boundary(
    network: Network, X: np.ndarray, y: np.ndarray, path, class_names=None, features=None
) -> Path:
    """For 2-feature data: the plane coloured by the class the network predicts, the points on top.

    Parameters
    ----------
    network : Network
        The trained classifier.
    X : ndarray of shape [n_examples, 2]
        The points.
    y : ndarray of shape [n_examples]
        Their class indices.
    path : str or Path
        The PNG file to write.
    class_names : sequence of str or None
        The legend's class names (None: no legend).
    features : sequence of str or None
        The names of the two features, for the axes (None: x1, x2).

    Returns
    -------
    Path
        The PNG file.
    """
    xs, ys, points = _grid(X)
    n_classes = network.n_outputs
    fig = Figure(figsize=(6, 5.5), layout="tight")
    _boundary_axes(
        fig.subplots(), xs, ys, network.predict(points), X, y, n_classes, "Decision boundary", class_names, features
    )
    return _save(fig, path)


def animate_decision_boundary(
    frames: list[tuple[int, np.ndarray]], X: np.ndarray, y: np.ndarray, n_classes: int, path, milliseconds: int = 150
) -> Path:
    """The decision boundary after each recorded epoch, as an animated GIF.

    Parameters
    ----------
    frames : list of (int, ndarray of shape [n_points])
        (epoch, predicted classes on ``decision_grid(X)``'s points).
    X : ndarray of shape [n_examples, 2]
        The points.
    y : ndarray of shape [n_examples]
        Their class indices.
    n_classes : int
        The number of classes.
    path : str or Path
        The GIF file to write.
    milliseconds : int
        How long each frame is shown.

    Returns
    -------
    Path
        The GIF file.
    """
    from PIL import Image

    xs, ys, _ = _grid(X)
    images = []
    for epoch, labels in frames:
        fig = Figure(figsize=(5, 4.6), layout="tight")
        _boundary_axes(fig.subplots(), xs, ys, labels, X, y, n_classes, f"Epoch {epoch}")
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=70, format="png")
        images.append(Image.open(io.BytesIO(buffer.getvalue())).convert("P", palette=Image.Palette.ADAPTIVE))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=milliseconds, loop=0)
    return atomic_write_bytes(path, buffer.getvalue(), overwrite=True)


def decision_grid(X: np.ndarray) -> np.ndarray:
    """The points at which the decision boundary of 2-feature data is drawn.

    Parameters
    ----------
    X : ndarray of shape [n_examples, 2]
        The data's points.

    Returns
    -------
    ndarray of shape [40000, 2]
        A 200 x 200 grid over the points (with a margin), in X's dtype.
    """
    return _grid(X)[2]


def plot_predictions(y_true: np.ndarray, y_pred: np.ndarray, path, names=None) -> Path:
    """A regression's predictions against the true targets (test part), one panel per target.

    Parameters
    ----------
    y_true : ndarray of shape [n_examples] or [n_examples, n_targets]
        The true targets.
    y_pred : ndarray of shape [n_examples] or [n_examples, n_targets]
        The predictions.
    path : str or Path
        The PNG file to write.
    names : sequence of str or None
        The targets' names, for the axes (None: "target").

    Returns
    -------
    Path
        The PNG file.
    """
    y_true, y_pred = np.asarray(y_true).reshape(len(y_true), -1), np.asarray(y_pred).reshape(len(y_pred), -1)
    k = y_true.shape[1]
    fig = Figure(figsize=(4.5 * min(k, 3), 4.2 * int(np.ceil(k / 3))), layout="tight")
    axes = np.atleast_1d(fig.subplots(int(np.ceil(k / 3)), min(k, 3))).flatten()
    for j, ax in enumerate(axes[:k]):
        ax.scatter(y_true[:, j], y_pred[:, j], s=8, alpha=0.6)
        low, high = min(y_true[:, j].min(), y_pred[:, j].min()), max(y_true[:, j].max(), y_pred[:, j].max())
        ax.plot([low, high], [low, high], color="grey", linewidth=1)
        ax.set_xlabel(f"true {names[j] if names else 'target'}")
        ax.set_ylabel("predicted")
    return _save(fig, path)


def draw_figures(
    run: RunFolder,
    network: Network,
    history: History,
    data,
    class_names=None,
    boundary_frames: list | None = None,
    regression: bool = False,
    predictions: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Path]:
    """Write every figure of the run into ``run/figures/``.

    For images, the chapter's 11.4, 11.5 and 11.9; the loss (11.7) and accuracy (11.8) per
    epoch; the confusion matrix; the first dense layer's weights as images, or the first
    convolution's filters; for 2-feature data the decision boundary (and its animation over
    the epochs); for a regression the predictions against the targets.

    Parameters
    ----------
    run : RunFolder
        The run folder written into.
    network : Network
        The trained network.
    history : History
        The training history.
    data : DataSplit
        The run's data split.
    class_names : sequence of str or None
        The classes' names (for a regression, the targets'); the digits 0 to 9 (or None) are
        shown as class indices.
    boundary_frames : list or None
        For 2-feature data, the frames of the decision boundary's animation
        (``animate_decision_boundary``); None or empty: no animation.
    regression : bool
        The run is a regression.
    predictions : (ndarray of shape [n_test, n_targets], ndarray of shape [n_test, n_targets]) or None
        For a regression, the predictions and the true targets of the test part, in the
        targets' own units (``regression_values``).

    Returns
    -------
    list of Path
        The files written.
    """
    global _shown_shape
    names = None if class_names is None or list(class_names) == [str(k) for k in range(10)] else class_names
    image_shape = getattr(data, "image_shape", None)
    images = image_shape is not None or data.X_train.shape[1] == 784
    _shown_shape = tuple(image_shape) if image_shape is not None else None
    written = []
    if regression:
        assert predictions is not None  # a regression's figure needs them (its callers pass them)
        written.append(
            plot_predictions(
                predictions[1],
                predictions[0],
                run.file(FIGURE_FILES["predictions"]),
                list(class_names) if class_names is not None else None,
            )
        )
    else:
        predicted = network.predict(data.X_test)
        if images:
            digit = 7 if np.any(data.y_train == 7) else int(data.y_train[0])
            written += [
                plot_digits_per_class(data.X_train, data.y_train, run.file(FIGURE_FILES["digits_per_class"]), names),
                plot_digit_variants(data.X_train, data.y_train, run.file(FIGURE_FILES["digit_variants"]), digit=digit),
                plot_misclassified(
                    data.X_test, data.y_test, predicted, run.file(FIGURE_FILES["misclassified"]), class_names=names
                ),
            ]
        written.append(
            plot_confusion_matrix(
                data.y_test, predicted, run.file(FIGURE_FILES["confusion_matrix"]), network.n_outputs, names
            )
        )
        if data.X_train.ndim == 2 and data.X_train.shape[1] == 2:
            written.append(
                plot_decision_boundary(
                    network,
                    data.X_train,
                    data.y_train,
                    run.file(FIGURE_FILES["decision_boundary"]),
                    names,
                    data.features,
                )
            )
            if boundary_frames:
                written.append(
                    animate_decision_boundary(
                        boundary_frames,
                        data.X_train,
                        data.y_train,
                        network.n_outputs,
                        run.file(FIGURE_FILES["decision_boundary_animation"]),
                    )
                )
    if len(history):
        loss_column, loss_label = (
            ("train_mse", "Mean squared error") if network.loss.name == "mse" else ("train_loss", "Cross-entropy loss")
        )
        written.append(plot_loss(history, run.file(FIGURE_FILES["loss"]), loss_column, loss_label))
        if not regression:
            written.append(plot_accuracy(history, run.file(FIGURE_FILES["accuracy"])))
    first_dense = next((p.value for p in network.parameters() if p.value.ndim == 2), None)
    if (
        first_dense is not None
        and images
        and first_dense.shape[1] == data.X_train[0].size
        and (image_shape is None or image_shape[0] == 1)
    ):
        written.append(plot_hidden_weights(first_dense, run.file(FIGURE_FILES["hidden_weights"])))
    first_filters = next((p.value for p in network.parameters() if p.value.ndim == 4), None)
    if first_filters is not None:
        written.append(plot_filters(first_filters, run.file(FIGURE_FILES["filters"])))
    return written
