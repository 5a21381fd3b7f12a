"""Speed kernels: what makes the engine fast, kept apart from the mathematics it serves.

The layers and optimizers state their equations in plain NumPy; where a faster way of
computing the same numbers exists, they call it from here:

* ``axpy``: y += a x through BLAS, in blocks that stay on one thread;
* ``sum_rows``: the column sums of a matrix as a BLAS matrix-vector product;
* ``elementwise``: an element-wise update run block by block, half of the blocks on a
  helper thread (NumPy releases the GIL inside each operation);
* ``flush_tiny``: moment buffers cleared of values about to become subnormal;
* ``BlasThreads`` and ``training_threads``: how many BLAS threads a training loop uses;
* ``keep_freed_memory``: the C library's malloc keeps what a training step frees for the next.

Every kernel gives the same numbers as the plain NumPy expression it replaces, except where
its docstring says otherwise (``flush_tiny``).
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

__all__ = [
    "AXPY_BLOCK",
    "ELEMENTWISE_BLOCK",
    "IM2COL_ELEMENTS",
    "KEPT_COLUMNS",
    "ACTIVATION_ELEMENTS",
    "SMALL_BATCH_WORK",
    "axpy",
    "sum_rows",
    "elementwise",
    "flush_tiny",
    "BlasThreads",
    "training_threads",
    "run_on_helper",
    "FREED_MEMORY_KEPT",
    "HEAP_ARRAYS_BELOW",
    "keep_freed_memory",
]

#: OpenBLAS runs a level-1 routine such as axpy on one thread up to 10,000 elements and
#: hands larger ones to its thread pool, which costs more than it saves for a memory-bound
#: operation (and a great deal on a busy machine); axpy goes through BLAS in pieces this size
AXPY_BLOCK = 8192

#: elements updated at a time by ``elementwise``: the blocks of five float32 arrays (5 x 512 KiB)
#: stay in the core's cache across a dozen operations, instead of a dozen trips through memory
ELEMENTWISE_BLOCK = 131_072

#: the most entries an im2col matrix of a convolution holds at a time (4 MB in float32): a batch is
#: multiplied in chunks of examples whose columns stay in the cache for the products that read them
#: (conv 5x5, 32 -> 64 channels on 14 x 14 maps, batch 128, 2 threads: the forward pass took 33 ms
#: in chunks of 53 examples, 19 ms in chunks of 6), and the buffers stay bounded
IM2COL_ELEMENTS = 1024 * 1024

#: the most entries of a batch's im2col matrix a training forward pass keeps for the backward pass
#: (16 MB in float32; a first convolution's, of one channel): larger ones are made again
KEPT_COLUMNS = 4 * 1024 * 1024

#: the most activation values an inference batch may make (32 MB in float32): larger batches of
#: examples are evaluated in pieces (the maps of a convolutional network are many times its input;
#: a training's evaluation runs beside its mini-batches, so this adds to the training's peak memory)
ACTIVATION_ELEMENTS = 8 * 1024 * 1024

#: below this many multiply-adds per mini-batch, BLAS's threads cost more than they give
SMALL_BATCH_WORK = 16_000_000

#: how much freed memory glibc's malloc keeps at the top of its heap once ``keep_freed_memory``
#: has run (instead of handing it back to the system), and the size below which arrays come from
#: that heap rather than from a mapping of their own (glibc's largest)
FREED_MEMORY_KEPT = 128 * 1024 * 1024
HEAP_ARRAYS_BELOW = 32 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
_freed_memory_kept: bool | None = None


def axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """y += alpha * x in place, in one pass: BLAS axpy for contiguous float32/float64 arrays
    of one layout (the flat parameter buffers), two NumPy operations otherwise.

    Parameters
    ----------
    alpha : float
        The factor.
    x : ndarray
        What is added, of y's shape.
    y : ndarray
        Updated in place.
    """
    if (
        x.dtype == y.dtype
        and x.dtype in (np.float32, np.float64)
        and x.shape == y.shape
        and x.flags.c_contiguous
        and y.flags.c_contiguous
    ):
        from scipy.linalg import blas  # imported on first use

        function = blas.saxpy if x.dtype == np.float32 else blas.daxpy
        x, y = x.reshape(-1), y.reshape(-1)
        for start in range(0, x.size, AXPY_BLOCK):  # y is updated in place
            function(x[start : start + AXPY_BLOCK], y[start : start + AXPY_BLOCK], a=alpha)
    else:
        y += alpha * x


_ONES: dict[tuple[int, str], np.ndarray] = {}


def sum_rows(matrix: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = the sum of the rows of ``matrix``, as the product 1^T matrix: a BLAS
    matrix-vector product, several times faster than ``matrix.sum(axis=0)`` for these shapes.

    Parameters
    ----------
    matrix : ndarray of shape [n, k]
        The rows.
    out : ndarray of shape [k]
        Where the sum is written.

    Returns
    -------
    ndarray of shape [k]
        ``out``.
    """
    key = (matrix.shape[0], matrix.dtype.str)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 16:  # a handful of batch sizes are in use at a time
            _ONES.clear()
        ones = _ONES.setdefault(key, np.ones(matrix.shape[0], dtype=matrix.dtype))
    return np.dot(ones, matrix, out=out)


_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _forget_helper() -> None:
    """In a forked child the helper thread does not exist: start a new one when asked."""
    global _helper, _helper_lock
    _helper, _helper_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helper)


def run_on_helper(function: Callable, *args) -> Future:
    """Run ``function(*args)`` on the engine's helper thread (one, started on first use)."""
    global _helper
    if _helper is None:
        with _helper_lock:
            if _helper is None:
                _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuralnet-kernels")
    return _helper.submit(function, *args)


def _blocks(arrays: Sequence[np.ndarray], size: int) -> list[tuple[np.ndarray, ...]]:
    """``arrays`` (of one shape and memory layout) cut into blocks of ``size`` elements, as views;
    arrays that cannot be viewed flat come whole."""
    flat = [a.ravel(order="K") for a in arrays]
    if not all(np.shares_memory(f, a) for f, a in zip(flat, arrays)) or flat[0].ndim != 1:
        return [tuple(arrays)]
    return [tuple(f[start : start + size] for f in flat) for start in range(0, flat[0].size, size)]


_thread_scratch = threading.local()


def _scratch(count: int, size: int, dtype) -> list[np.ndarray]:
    """``count`` flat arrays of at least ``size`` entries of ``dtype``, the calling thread's own,
    kept from call to call (grown when too small)."""
    if not count:
        return []
    kept: list[np.ndarray] = getattr(_thread_scratch, "arrays", [])
    if len(kept) < count or kept[0].size < size or kept[0].dtype != dtype:
        kept = [np.empty(max(size, ELEMENTWISE_BLOCK), dtype=dtype) for _ in range(count)]
        _thread_scratch.arrays = kept
    return kept[:count]


def elementwise(
    update: Callable[..., None],
    groups: Sequence[Sequence[np.ndarray]],
    *args,
    block: int = ELEMENTWISE_BLOCK,
    scratch: int = 0,
) -> None:
    """Apply ``update(*arrays_of_a_block, *scratch_arrays, *args)`` to every group of
    same-shaped arrays, block by block, half of the blocks on the helper thread.

    ``update`` must be element-wise (entry i of its outputs depends only on entry i of its
    inputs): then any split gives the same numbers as one call on the whole arrays. It is
    also given ``scratch`` temporary arrays of the block's shape, whose values it may
    overwrite (each thread's own, of one block's size: an optimizer keeps no full-size
    scratch copy of its parameters).
    """
    blocks = [piece for group in groups for piece in _blocks(group, block)]

    def run(pieces):
        for piece in pieces:
            first = piece[0]
            temporaries = [t[: first.size].reshape(first.shape) for t in _scratch(scratch, first.size, first.dtype)]
            update(*piece, *temporaries, *args)

    if len(blocks) < 2:
        run(blocks)
        return
    half = len(blocks) // 2
    other_half = run_on_helper(run, blocks[half:])
    run(blocks[:half])
    other_half.result()


def flush_tiny(buffers: Sequence[np.ndarray]) -> None:
    """Set to zero the entries of ``buffers`` below ``finfo.tiny * 1e8`` in magnitude (about
    1e-30 in float32).

    A weight whose gradient stays exactly zero (a ReLU unit that never fires) has moments
    that decay geometrically into the subnormal range (below 1.2e-38 in float32), where x86
    arithmetic is about a hundred times slower: Adam slowed from 1.3 ms to 8.9 ms a step on
    MNIST. Values this small change no update measurably, and from 1e-30 a moment needs over
    100 steps (beta = 0.9) to become subnormal, so the optimizers flush every 100 steps.
    """
    for buffer in buffers:
        threshold = np.finfo(buffer.dtype).tiny * 1e8
        np.copyto(buffer, 0.0, where=np.abs(buffer) < threshold)


class BlasThreads:
    """Switches the number of BLAS threads (threadpoolctl), found once per instance."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self.controller = ThreadpoolController()

    def limit(self, threads: int | None):
        """A context in which BLAS uses ``threads`` threads (None: leave it as it is)."""
        if threads is None:
            return nullcontext()
        return self.controller.limit(limits=int(threads), user_api="blas")


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory a training step frees for the next step (once per
    process; what ``Trainer.fit`` does first).

    A convolutional network's step makes and frees tens of MB of maps. By default glibc hands the
    freed top of its heap back to the system, and the next step's arrays fault it in again, page
    by page: about 3,000 pages a step for the MNIST recipe's network, at 2.6 µs each on this
    project's machine, 8 ms of its 90 ms step. ``mallopt`` raises the amount kept to
    ``FREED_MEMORY_KEPT`` and serves arrays below ``HEAP_ARRAYS_BELOW`` from the heap, so the
    pages are made once. The process's peak memory stays what its largest step needs (the kept
    pages are the ones that step used); it is not given back to the system until the process ends.
    The numbers computed do not change.

    Returns
    -------
    bool
        Whether malloc was told (glibc only: elsewhere nothing changes and this returns False).
    """
    global _freed_memory_kept
    if _freed_memory_kept is None:
        _freed_memory_kept = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                mallopt = ctypes.CDLL("libc.so.6").mallopt
            except (OSError, AttributeError):
                return False
            heap = mallopt(_M_MMAP_THRESHOLD, HEAP_ARRAYS_BELOW)
            kept = mallopt(_M_TRIM_THRESHOLD, FREED_MEMORY_KEPT)
            _freed_memory_kept = heap == 1 and kept == 1
    return _freed_memory_kept


def training_threads(matrix_sizes: Sequence[int], batch_size: int, threads: int | None) -> int | None:
    """BLAS threads for a training loop: ``threads`` if given; else one thread when each
    mini-batch's matrix products are small (the chapter's 784-50-10 network at batch 100),
    since threads then spend more time synchronising than multiplying; else None (BLAS's own).

    ``matrix_sizes``: the number of entries of each weight matrix of the network."""
    if threads is not None:
        return threads
    work = batch_size * sum(matrix_sizes)
    return 1 if work < SMALL_BATCH_WORK else None
