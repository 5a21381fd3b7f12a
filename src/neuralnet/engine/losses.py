"""Loss functions: the value, and the gradient with respect to the network's output.

Targets are matrices ``y`` of shape ``[n_examples, n_outputs]`` (one-hot rows for
classification). Each loss offers:

* ``total(output, y)``: the sum over examples of the per-example loss, accumulated in
  float64 (so that evaluating in chunks and dividing by n gives the exact mean);
* ``value(output, y)``: the mean over examples, the quantity the gradient is of;
* ``gradient(output, y)``: dL/d(output) for that mean, shape ``[n_examples, n_outputs]``;
* ``value_and_gradient(output, y)``: both at once, sharing the work (the training loop's call);
* ``per_example(output, y)``: each example's loss [n] (float64);
* ``weighted_value_and_gradient(output, y, w)``: the weighted mean sum_i w_i l_i / sum_i w_i
  and its gradient (scikit-learn's ``sample_weight``: weight 2 counts an example twice);
* ``probabilities(output)``: what ``predict_proba`` reports for this loss.
"""

from __future__ import annotations

import numpy as np

from .activations import softmax

__all__ = ["Loss", "MeanSquaredError", "SoftmaxCrossEntropy", "LOSSES", "get_loss"]


class Loss:
    """Base class: a loss of the network's output ``[n_examples, n_outputs]`` and the targets
    ``y`` of the same shape (see the module for what each method gives)."""

    name = "loss"
    #: the activation that the network's last layer must apply before this loss
    output_activation = "identity"

    def total(self, output: np.ndarray, y: np.ndarray) -> float:
        """The sum over examples of the per-example loss, accumulated in float64.

        Parameters
        ----------
        output : ndarray of shape [n_examples, n_outputs]
            The network's output.
        y : ndarray of shape [n_examples, n_outputs]
            The targets (one-hot rows for classification).

        Returns
        -------
        float
            The sum (evaluating in chunks and dividing by n gives the exact mean).
        """
        raise NotImplementedError

    def value(self, output: np.ndarray, y: np.ndarray) -> float:
        """The mean over examples, the quantity the gradient is of: ``total / n_examples``.

        Parameters
        ----------
        output, y : ndarray of shape [n_examples, n_outputs]
            The network's output and the targets.

        Returns
        -------
        float
        """
        return self.total(output, y) / output.shape[0]

    def gradient(self, output: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dL/d(output) of the mean loss.

        Parameters
        ----------
        output, y : ndarray of shape [n_examples, n_outputs]
            The network's output and the targets.

        Returns
        -------
        ndarray of shape [n_examples, n_outputs]
        """
        raise NotImplementedError

    def value_and_gradient(self, output: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The mean loss and its gradient at once, sharing the work (the training loop's call).

        Parameters
        ----------
        output, y : ndarray of shape [n_examples, n_outputs]
            The network's output and the targets.

        Returns
        -------
        value : float
            The mean loss.
        gradient : ndarray of shape [n_examples, n_outputs]
            dL/d(output).
        """
        return self.value(output, y), self.gradient(output, y)

    def probabilities(self, output: np.ndarray) -> np.ndarray:
        """What ``predict_proba`` reports for this loss: the output itself here.

        Parameters
        ----------
        output : ndarray of shape [n_examples, n_outputs]
            The network's output.

        Returns
        -------
        ndarray of shape [n_examples, n_outputs]
        """
        return output

    def per_example(self, output: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each example's loss, in float64.

        Parameters
        ----------
        output, y : ndarray of shape [n_examples, n_outputs]
            The network's output and the targets.

        Returns
        -------
        ndarray of shape [n_examples]
        """
        raise NotImplementedError

    def weighted_value_and_gradient(
        self, output: np.ndarray, y: np.ndarray, weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """The weighted mean L = sum_i w_i l_i / sum_i w_i and its gradient.

        scikit-learn's ``sample_weight``: weight 2 counts an example twice. A mini-batch whose
        weights are all zero teaches nothing: L = 0 and a zero gradient.

        Parameters
        ----------
        output, y : ndarray of shape [n_examples, n_outputs]
            The network's output and the targets.
        weights : ndarray of shape [n_examples]
            Each example's weight w_i.

        Returns
        -------
        value : float
            L.
        gradient : ndarray of shape [n_examples, n_outputs]
            dL/d(output_i) = (n w_i / sum w) * d(mean l)/d(output_i).
        """
        # L = sum_i w_i l_i / sum_i w_i;  dL/d(output_i) = (n w_i / sum w) * d(mean l)/d(output_i)
        weights = np.asarray(weights, dtype=np.float64)
        total = weights.sum()
        grad = self.gradient(output, y)
        if total == 0:  # a mini-batch of zero weights teaches nothing
            grad[...] = 0
            return 0.0, grad
        value = float(np.dot(weights, self.per_example(output, y)) / total)
        grad *= (weights * (output.shape[0] / total)).astype(grad.dtype)[:, None]
        return value, grad


class MeanSquaredError(Loss):
    """The chapter's loss: L = (1/n) sum_i sum_k (a_ik - y_ik)^2.

    This is the loss whose gradient the chapter's ``backward`` computes,
    dL/da = 2 (a - y) / n. The chapter's *reported* MSE, ``mse_loss``, is the mean over
    all n * k entries, i.e. L / k; both are given in the training history.
    """

    name = "mse"
    output_activation = "sigmoid"

    def total(self, output, y):
        """sum_i sum_k (a_ik - y_ik)^2, in float64.

        Parameters
        ----------
        output, y : ndarray of shape [n, k]
            The activations a and the targets.

        Returns
        -------
        float
        """
        diff = output - y
        return float(np.einsum("ij,ij->", diff, diff, dtype=np.float64))

    def per_example(self, output, y):
        """sum_k (a_ik - y_ik)^2 for each example i, in float64.

        Parameters
        ----------
        output, y : ndarray of shape [n, k]
            The activations a and the targets.

        Returns
        -------
        ndarray of shape [n]
        """
        diff = output - y
        return np.einsum("ij,ij->i", diff, diff, dtype=np.float64)  # sum_k (a_ik - y_ik)^2

    def gradient(self, output, y):
        """dL/da = 2 (a - y) / n.

        Parameters
        ----------
        output, y : ndarray of shape [n, k]
            The activations a and the targets.

        Returns
        -------
        ndarray of shape [n, k]
        """
        # dL/da = 2 (a - y) / n: [n, k]
        grad = np.subtract(output, y)
        grad *= 2.0 / output.shape[0]
        return grad

    def value_and_gradient(self, output, y):
        """L and dL/da = 2 (a - y) / n; L in the data's precision (a per-batch figure).

        Parameters
        ----------
        output, y : ndarray of shape [n, k]
            The activations a and the targets.

        Returns
        -------
        value : float
            L.
        gradient : ndarray of shape [n, k]
            dL/da.
        """
        diff = np.subtract(output, y)  # a - y: [n, k]
        n = output.shape[0]
        value = float(np.vdot(diff, diff)) / n  # in the data's precision: a per-batch figure
        diff *= 2.0 / n
        return value, diff


class SoftmaxCrossEntropy(Loss):
    """Softmax fused with the cross-entropy: the network outputs logits z.

    L = (1/n) sum_i [ logsumexp(z_i) - sum_k y_ik z_ik ], computed with the max-shift
    log-sum-exp so that logits of +-1e4 give neither overflow nor NaN. Its gradient
    simplifies to dL/dz = (softmax(z) - y) / n.
    """

    name = "cross-entropy"
    output_activation = "identity"

    def total(self, output, y):
        """sum_i [ logsumexp(z_i) sum_k y_ik - y_i . z_i ], in float64 (the targets of each row
        sum to one: one-hot or probabilities).

        Parameters
        ----------
        output : ndarray of shape [n, k]
            The logits z.
        y : ndarray of shape [n, k]
            The targets.

        Returns
        -------
        float
        """
        # logsumexp(z) = m + log(sum(exp(z - m))) with m = max(z): every exp is <= 1
        row_max = output.max(axis=1, keepdims=True)
        shifted = output - row_max
        np.exp(shifted, out=shifted)
        log_sum = np.log(shifted.sum(axis=1, dtype=np.float64)) + row_max[:, 0]
        # the targets of each row sum to one (one-hot or probabilities)
        target_sum = y.sum(axis=1, dtype=np.float64)
        dot = np.einsum("ij,ij->i", y, output, dtype=np.float64)
        return float(np.sum(log_sum * target_sum - dot))

    def per_example(self, output, y):
        """logsumexp(z_i) sum_k y_ik - y_i . z_i for each example i, in float64.

        Parameters
        ----------
        output : ndarray of shape [n, k]
            The logits z.
        y : ndarray of shape [n, k]
            The targets.

        Returns
        -------
        ndarray of shape [n]
        """
        # logsumexp(z_i) sum_k y_ik - y_i . z_i
        row_max = output.max(axis=1, keepdims=True)
        shifted = np.exp(output - row_max)
        log_sum = np.log(shifted.sum(axis=1, dtype=np.float64)) + row_max[:, 0]
        return log_sum * y.sum(axis=1, dtype=np.float64) - np.einsum("ij,ij->i", y, output, dtype=np.float64)

    def gradient(self, output, y):
        """dL/dz = (softmax(z) - y) / n.

        Parameters
        ----------
        output : ndarray of shape [n, k]
            The logits z.
        y : ndarray of shape [n, k]
            The targets.

        Returns
        -------
        ndarray of shape [n, k]
        """
        # dL/dz = (softmax(z) - y) / n: [n, k]
        grad = softmax(output)
        grad -= y
        grad *= 1.0 / output.shape[0]
        return grad

    def value_and_gradient(self, output, y):
        """L and dL/dz = (softmax(z) - y) / n, sharing the exponentials.

        Parameters
        ----------
        output : ndarray of shape [n, k]
            The logits z.
        y : ndarray of shape [n, k]
            The targets.

        Returns
        -------
        value : float
            L.
        gradient : ndarray of shape [n, k]
            dL/dz.
        """
        n = output.shape[0]
        row_max = output.max(axis=1, keepdims=True)
        grad = np.subtract(output, row_max)
        np.exp(grad, out=grad)  # e = exp(z - max z), every entry <= 1
        row_sum = grad.sum(axis=1, keepdims=True)
        # L_i = logsumexp(z_i) sum_k y_ik - y_i . z_i, logsumexp(z_i) = max z_i + log sum e_i
        log_sum_exp = np.log(row_sum) + row_max
        value = float(np.vdot(log_sum_exp, y.sum(axis=1)) - np.vdot(y, output)) / n
        grad /= row_sum  # softmax(z)
        grad -= y
        grad *= 1.0 / n
        return value, grad

    def probabilities(self, output):
        """softmax(z), row by row.

        Parameters
        ----------
        output : ndarray of shape [n, k]
            The logits z.

        Returns
        -------
        ndarray of shape [n, k]
        """
        return softmax(output)


LOSSES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "cross-entropy": SoftmaxCrossEntropy,
}

_ALIASES = {
    "squared_error": "mse",
    "cross_entropy": "cross-entropy",
    "ce": "cross-entropy",
    "log_loss": "cross-entropy",
    "crossentropy": "cross-entropy",
}


def get_loss(name: str | Loss) -> Loss:
    """A loss instance from its name ("mse" or "cross-entropy") or an instance."""
    if isinstance(name, Loss):
        return name
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    try:
        return LOSSES[key]()
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}") from None
