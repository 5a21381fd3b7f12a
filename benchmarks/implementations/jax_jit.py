"""JAX on the CPU, jit-compiled: one XLA program per epoch (per mini-batch for the CNN), compiled before the timing.

Each epoch of a multilayer perceptron is one call of a jitted function: ``lax.scan`` over
the epoch's mini-batches (the shuffled indices, [batches, batch size]) carries the
parameters, the optimizer's state and the dropout key; each step gathers its batch from
the training set (held by XLA once, before the timing), takes ``jax.value_and_grad`` of
the loss and updates. The same network, loss, initial weights (neuralnet's) and shuffling
order as neuralnet (``np.random.RandomState(seed).shuffle`` of ``arange(n)``, once per
epoch, the last partial batch dropped); SGD, or Adam with PyTorch's defaults
(bias-corrected), written out below; inverted dropout with masks from ``jax.random`` (its
own, as PyTorch's are).

The convolutional workload uses ``lax.conv_general_dilated`` with the weights as neuralnet
and PyTorch hold them (OIHW) and max-pooling by ``lax.reduce_window``; the activations run
channels-last (``LAYOUT``: the images [n, 28, 28, 1], back to C-major order before the
flatten, so that neuralnet's Dense weights fit): XLA's CPU convolutions are faster so
(measured, jaxlib 0.10.2, 2 CPUs: the forward pass over 10,000 images 0.8 s against 2.9 s
channels-first; a training step about the same). Its epoch is a Python loop over one
compiled training step per mini-batch, not a scan: XLA's CPU backend runs convolutions
inside a loop body far slower than outside one (https://github.com/jax-ml/jax/issues/12868;
measured: a step 1.2 s inside ``lax.scan``, 0.16 s as its own program, with either layout).

Before the timing, each program is compiled ahead of time (``jit(...).lower(...).compile()``:
the epoch's scan, the step, the evaluation chunks; reported as ``compile_seconds``) and
warmed up (``warm_up_seconds``): the step once, on copies of the initial state, and each
evaluation once, results dropped (a call of the epoch's scan itself would train a whole
extra epoch). The timed loop thus runs compiled programs only, past XLA's and JAX's
first-call costs, save the few milliseconds of the scan program's own first dispatch.
Evaluation (every epoch, as the other implementations evaluate): a compiled program per
chunk of 10,000, each slicing its chunk out of the set inside the program.

Threads: XLA's CPU client starts its intra-op Eigen pool (threads named ``tf_XLAEigen``)
with one thread per CPU this process may run on (``sched_getaffinity``), when the backend
starts; the calling thread works alongside it. Measured with jaxlib 0.10.2 on 2 CPUs:
2 pool threads, 1 under ``taskset -c 0`` (and only the calling thread busy).
``OMP_NUM_THREADS`` & co. and threadpoolctl do not reach it, nor does ``XLA_FLAGS``:
``--xla_cpu_multi_thread_eigen=false`` leaves the pool and the per-thread CPU use as they
were, and ``intra_op_parallelism_threads`` is a TensorFlow session option, not an XLA flag.
What limits XLA's threads is therefore the harness's CPU pinning (``child.cpu_subset``,
set before the child starts: with ``--threads N`` below the CPU count, N CPUs, so N
threads); with all CPUs allowed, XLA uses them all, as the other implementations do.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .shared_data import Arrays
from .workloads import IMAGE_SHAPE, N_CLASSES, Workload

EVAL_BATCH_SIZE = 10_000  # as neuralnet's Trainer evaluates
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults
LAYOUT = "NHWC"  # of the convolutions' activations: "NHWC" (faster on XLA's CPU backend) or "NCHW"
ACTIVATIONS = {"sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}


def xla_threads() -> int:
    """The threads of XLA's CPU pool in this process: one per CPU it may run on."""
    return len(os.sched_getaffinity(0))


def describe(workload: Workload) -> str:
    per_step = workload.layers is not None and "conv" in workload.layers
    parts = [
        "jax.jit, a compiled step per mini-batch (XLA:CPU convolutions are slow inside lax.scan)"
        if per_step
        else "jax.jit, one compiled lax.scan over each epoch's mini-batches",
        "chapter MSE" if workload.loss == "mse" else "softmax cross-entropy",
        "SGD" if workload.optimizer == "sgd" else "Adam (PyTorch's defaults)",
        "neuralnet's initial weights and shuffling order",
    ]
    if workload.layers is not None:
        parts.append(f"lax.conv_general_dilated ({LAYOUT} activations, OIHW weights), reduce_window max-pool")
    if any(spec["type"] == "Dropout" for spec in layer_specs(workload)):
        parts.append("jax.random dropout masks")
    threads = xla_threads()
    parts.append(f"XLA CPU pool of {threads} thread{'s' if threads > 1 else ''} (the CPUs it may run on)")
    return ", ".join(parts)


# -- the network ---------------------------------------------------------------------------------


def layer_specs(workload: Workload) -> list[dict]:
    """The layers in neuralnet's spec format: a multilayer perceptron's from the workload (Dense,
    activation, Dropout per hidden layer; Dense, and sigmoid for the MSE), a stack's from neuralnet."""
    if workload.layers is not None:
        from .neuralnet_engine import build_network

        return build_network(workload).specs()
    sizes, specs = workload.layer_sizes, []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        specs += [{"type": "Dense", "n_in": n_in, "n_out": n_out}, {"type": "Activation", "name": workload.activation}]
        if workload.dropout:
            specs.append({"type": "Dropout", "p": workload.dropout})
    specs.append({"type": "Dense", "n_in": sizes[-2], "n_out": sizes[-1]})
    if workload.loss == "mse":
        specs.append({"type": "Activation", "name": "sigmoid"})
    return specs


def forward(specs: list[dict], params, x, key=None):
    """The network's output (logits; sigmoid outputs for the MSE); dropout only when given a key."""
    channels_last = LAYOUT == "NHWC"
    if specs[0]["type"] == "Conv2D":
        c, h, w = IMAGE_SHAPE
        x = x.reshape(x.shape[0], h, w, c) if channels_last else x.reshape(x.shape[0], c, h, w)
    numbers = ("NHWC", "OIHW", "NHWC") if channels_last else ("NCHW", "OIHW", "NCHW")
    weights = iter(params)
    for spec in specs:
        kind = spec["type"]
        if kind == "Dense":
            w, b = next(weights)
            x = x @ w.T + b  # z = x W^T + b, W [n_out, n_in]
        elif kind == "Conv2D":
            w, b = next(weights)  # W [out, in, kh, kw]
            padding = [(p, p) for p in spec["padding"]]
            x = lax.conv_general_dilated(x, w, tuple(spec["stride"]), padding, dimension_numbers=numbers)
            x = x + (b if channels_last else b[:, None, None])
        elif kind == "MaxPool2D":
            window, stride, pad = spec["kernel_size"], spec["stride"], [(p, p) for p in spec["padding"]]
            if channels_last:
                x = lax.reduce_window(x, -jnp.inf, lax.max, (1, *window, 1), (1, *stride, 1), ((0, 0), *pad, (0, 0)))
            else:
                x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, *window), (1, 1, *stride), ((0, 0), (0, 0), *pad))
        elif kind == "Flatten":
            if channels_last:
                x = x.transpose(0, 3, 1, 2)
            x = x.reshape(x.shape[0], -1)  # [n, C*H*W], C major, as neuralnet and PyTorch flatten
        elif kind == "Activation":
            x = ACTIVATIONS[spec["name"]](x)
        elif kind == "Dropout":
            if key is not None:  # inverted dropout: keep with probability 1 - p, scaled by 1 / (1 - p)
                key, subkey = jax.random.split(key)
                keep = jax.random.bernoulli(subkey, 1.0 - spec["p"], x.shape)
                x = jnp.where(keep, x / (1.0 - spec["p"]), 0.0)
        else:
            raise ValueError(f"no JAX layer for {kind} here")
    return x


def example_losses(workload: Workload, output, labels):
    """Per example: the chapter's squared error summed over the classes, sum_k (a_k - y_k)^2, or
    the cross-entropy of the softmax, logsumexp(z) - z_label."""
    if workload.loss == "mse":
        return jnp.sum((output - jax.nn.one_hot(labels, N_CLASSES, dtype=output.dtype)) ** 2, axis=1)
    return jax.nn.logsumexp(output, axis=1) - jnp.take_along_axis(output, labels[:, None], axis=1)[:, 0]


def probabilities(workload: Workload, output):
    return output if workload.loss == "mse" else jax.nn.softmax(output, axis=1)


# -- the optimizers ---------------------------------------------------------------------------------


def optimizer_init(workload: Workload, params):
    """SGD: no state; Adam: (t, m, v) with zero moments."""
    if workload.optimizer == "sgd":
        return ()
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731  (m and v: two buffers)
    return (jnp.zeros((), jnp.float32), zeros(), zeros())


def optimizer_update(workload: Workload, params, grads, state):
    """One step: SGD w <- w - lr g; Adam (PyTorch's, bias-corrected):
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)."""
    lr = workload.lr
    if workload.optimizer == "sgd":
        return jax.tree_util.tree_map(lambda w, g: w - lr * g, params, grads), state
    t, m, v = state
    t = t + 1.0
    m = jax.tree_util.tree_map(lambda m, g: BETA1 * m + (1.0 - BETA1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda v, g: BETA2 * v + (1.0 - BETA2) * g * g, v, grads)
    correction1, correction2 = 1.0 - BETA1**t, 1.0 - BETA2**t
    params = jax.tree_util.tree_map(
        lambda w, m, v: w - lr * (m / correction1) / (jnp.sqrt(v / correction2) + EPS), params, m, v
    )
    return params, (t, m, v)


# -- the compiled functions --------------------------------------------------------------------------


class AheadOfTime:
    """A jitted function compiled once per input shapes, before it is called; the compile seconds summed."""

    def __init__(self, function: Callable, **jit_options):
        self.jitted = jax.jit(function, **jit_options)
        self.compiled: dict = {}
        self.seconds = 0.0

    def compile(self, *args):
        key = tuple((leaf.shape, leaf.dtype) for leaf in jax.tree_util.tree_leaves(args))
        if key not in self.compiled:
            started = time.perf_counter()
            self.compiled[key] = self.jitted.lower(*args).compile()
            self.seconds += time.perf_counter() - started
        return self.compiled[key]

    def __call__(self, *args):
        return self.compile(*args)(*args)


def step_function(workload: Workload, specs: list[dict]) -> Callable:
    """step(params, state, key, X, y, batch) -> (params, state, key, loss): one training step on the
    mini-batch X[batch], y[batch] (``batch``: [batch_size] indices)."""
    dropout = any(spec["type"] == "Dropout" for spec in specs)

    def batch_loss(params, X, y, key):
        return jnp.mean(example_losses(workload, forward(specs, params, X, key), y))

    def step(params, state, key, X, y, batch):
        subkey = None
        if dropout:
            key, subkey = jax.random.split(key)
        loss, grads = jax.value_and_grad(batch_loss)(params, X[batch], y[batch], subkey)
        params, state = optimizer_update(workload, params, grads, state)
        return params, state, key, loss

    return step


def epoch_function(workload: Workload, specs: list[dict]) -> Callable:
    """epoch(params, state, key, X, y, batches) -> (params, state, key, the batches' losses): one
    lax.scan over ``batches`` [n_batches, batch_size], a training step each."""
    step = step_function(workload, specs)

    def epoch(params, state, key, X, y, batches):
        def scanned(carry, batch):
            *carry, loss = step(*carry, X, y, batch)
            return tuple(carry), loss

        (params, state, key), losses = lax.scan(scanned, (params, state, key), batches)
        return params, state, key, losses

    return epoch


def chunk_function(workload: Workload, specs: list[dict], size: int) -> Callable:
    """totals(params, X, y, start) -> (summed loss, correct predictions) of the ``size`` examples from
    ``start``, without dropout (sliced inside the program: no copy of the set)."""

    def totals(params, X, y, start):
        X_chunk, y_chunk = lax.dynamic_slice_in_dim(X, start, size), lax.dynamic_slice_in_dim(y, start, size)
        output = forward(specs, params, X_chunk)
        return jnp.sum(example_losses(workload, output, y_chunk)), jnp.sum(jnp.argmax(output, axis=1) == y_chunk)

    return totals


class Evaluation:
    """Mean loss and accuracy of whole sets, in chunks of EVAL_BATCH_SIZE: a compiled program per chunk
    size, a Python loop over the chunks (XLA's CPU convolutions are slow inside loops: see above)."""

    def __init__(self, workload: Workload, specs: list[dict]):
        self.workload, self.specs, self.programs = workload, specs, {}

    @property
    def seconds(self) -> float:
        return sum(program.seconds for program in self.programs.values())

    def _chunks(self, params, X, y):
        for start in range(0, y.shape[0], EVAL_BATCH_SIZE):
            size = min(EVAL_BATCH_SIZE, y.shape[0] - start)
            if size not in self.programs:
                self.programs[size] = AheadOfTime(chunk_function(self.workload, self.specs, size))
            yield self.programs[size], (params, X, y, np.int32(start))

    def compile(self, params, X, y) -> None:
        for program, args in self._chunks(params, X, y):
            program.compile(*args)

    def __call__(self, params, X, y) -> dict:
        totals = [program(*args) for program, args in self._chunks(params, X, y)]
        loss, correct = sum(float(chunk_loss) for chunk_loss, _ in totals), sum(int(c) for _, c in totals)
        return {"loss": loss / y.shape[0], "acc": correct / y.shape[0]}


def as_params(weights) -> list[tuple[jax.Array, jax.Array]]:
    return [(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)) for w, b in weights]


def _on_device(X: np.ndarray, y: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """XLA's own copy of a set, made once (jax.device_put aliases a NumPy array only when it is 64-byte
    aligned, which np.load's are not); the labels as int32."""
    return jax.device_put(X), jax.device_put(y.astype(np.int32))


def _copy(tree):
    return jax.tree_util.tree_map(jnp.copy, tree)


def _one_epoch(program: AheadOfTime, per_step: bool, params, state, key, X, y, batches: np.ndarray):
    """One epoch: a single call of the epoch's scan, or (per_step) one call of the step per mini-batch."""
    if not per_step:
        return program(params, state, key, X, y, batches)[:3]
    for batch in batches:
        params, state, key, _ = program(params, state, key, X, y, batch)
    return params, state, key


def train(workload: Workload, arrays: Arrays, weights, on_epoch: Callable[[int, int, dict], None]) -> dict:
    specs = layer_specs(workload)
    per_step = any(spec["type"] == "Conv2D" for spec in specs)  # convolutions: not inside a loop (see above)
    params = as_params(weights)
    state = optimizer_init(workload, params)
    key = jax.random.PRNGKey(workload.seed)
    sets = {name: _on_device(*arrays.evaluation_set(name)) for name in {"train", "test", *workload.evaluated}}
    (X, y), test_set = sets["train"], sets["test"]
    evaluated = {name: sets[name] for name in workload.evaluated}
    n_batches = X.shape[0] // workload.batch_size  # the last partial batch dropped, as neuralnet does
    stop = n_batches * workload.batch_size
    step = AheadOfTime(step_function(workload, specs), donate_argnums=(0, 1, 2))
    epoch = step if per_step else AheadOfTime(epoch_function(workload, specs), donate_argnums=(0, 1, 2))
    evaluation = Evaluation(workload, specs)
    # compiled ahead of time; then warm-up calls on the same shapes (the step for the epoch), results dropped
    one_batch = np.arange(workload.batch_size, dtype=np.int32)
    step.compile(params, state, key, X, y, one_batch)
    if not per_step:
        epoch.compile(params, state, key, X, y, np.zeros((n_batches, workload.batch_size), np.int32))
    for X_set, y_set in (*evaluated.values(), test_set):
        evaluation.compile(params, X_set, y_set)
    warm_up_started = time.perf_counter()
    jax.block_until_ready(step(_copy(params), _copy(state), _copy(key), X, y, one_batch))
    for X_set, y_set in evaluated.values():
        evaluation(params, X_set, y_set)
    warm_up_seconds = time.perf_counter() - warm_up_started
    rng = np.random.RandomState(workload.seed)  # neuralnet's shuffling RNG
    epoch_seconds = []
    started = time.perf_counter()
    for number in range(1, workload.epochs + 1):
        epoch_started = time.perf_counter()
        order = np.arange(X.shape[0])
        rng.shuffle(order)
        batches = order[:stop].reshape(n_batches, workload.batch_size).astype(np.int32)
        params, state, key = _one_epoch(epoch, per_step, params, state, key, X, y, batches)
        jax.block_until_ready(params)
        epoch_seconds.append(time.perf_counter() - epoch_started)
        metrics = {}
        for name, (X_set, y_set) in evaluated.items():
            result = evaluation(params, X_set, y_set)
            metrics.update({f"{name}_loss": result["loss"], f"{name}_acc": result["acc"]})
        on_epoch(number, workload.epochs, metrics)
    seconds = time.perf_counter() - started
    test = evaluation(params, *test_set)
    compile_seconds = step.seconds + (0.0 if per_step else epoch.seconds) + evaluation.seconds
    return {
        "seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "epochs": workload.epochs,
        "test_acc": test["acc"],
        "compile_seconds": compile_seconds,  # all before the timing, not in "seconds"
        "warm_up_seconds": warm_up_seconds,  # the warm-up calls, not in "seconds" either
        "examples_trained_per_epoch": stop,
        "examples_evaluated_per_epoch": arrays.count(workload.evaluated),
    }


def prepare_inputs(X: np.ndarray) -> jax.Array:
    """The test images handed to XLA once, before the timing (as the training set is): each call then
    runs the compiled program on them, without a copy of its input."""
    return jax.device_put(X)


def make_predictor(workload: Workload, weights, threads) -> Callable[[np.ndarray], np.ndarray]:
    """predict_proba: the jitted forward pass (compiled per input shape at its first call, which
    measure_inference makes before timing), probabilities [n, classes] as a NumPy array."""
    specs, params = layer_specs(workload), as_params(weights)
    predict = jax.jit(lambda params, X: probabilities(workload, forward(specs, params, X)))

    def predict_proba(X) -> np.ndarray:
        return np.asarray(predict(params, X))

    return predict_proba
