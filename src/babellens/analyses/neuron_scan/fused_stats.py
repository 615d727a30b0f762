"""One pass over a batch's activations for the scan's per-neuron statistics, on a CPU.

The scan needs, per layer and batch: each window's maximum per neuron, the histogram counts,
and the sum over real positions. Written as separate tensor operations, that is eight passes
over ``[tokens, d_mlp]`` (a maximum, the bin keys, a table look-up, an offset, a scatter, a
float32 copy, a weighted sum): with a bfloat16 forward pass taking about 20 ms per layer and
batch, those passes cost more than the layer itself. This module does all of it in one pass,
compiled by numba, each thread owning a contiguous range of neurons (so no two threads touch the
same histogram row, and the result does not depend on the number of threads). The bin of a
value comes from its float32 bit pattern exactly as in :mod:`histogram`; a bfloat16 value is the
top half of its float32 pattern, so it is read as 16-bit integers and shifted, never copied.

numba is an ordinary dependency; where it cannot be imported (a platform without its wheels),
:func:`kernel_available` says so and the accumulator uses its tensor operations, which give the
same counts and maxima (the tests compare the two).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, Literal

import numpy as np
import torch

from babellens.analyses.neuron_scan.histogram import bin_table

__all__ = ["StatsBackend", "fold_batch_stats", "kernel_available", "kernel_dtypes"]

StatsBackend = Literal["kernel", "torch"]
"""``kernel``: the one-pass compiled fold (CPU, bfloat16 or float32); ``torch``: tensor ops."""

_BLOCK = 64  # neurons per inner loop: 64 histogram rows (37 KB) stay in the L1/L2 cache
_POOL: ThreadPoolExecutor | None = None
_SHIFT = {torch.bfloat16: (torch.int16, np.uint16, 16), torch.float32: (torch.int32, np.uint32, 0)}


def kernel_dtypes() -> tuple[torch.dtype, ...]:
    return tuple(_SHIFT)


@cache
def _kernel() -> Any:
    """The compiled fold, or None without numba (compiled once, then read from numba's cache)."""
    try:
        from numba import njit
    except ImportError:
        return None

    @njit(nogil=True, cache=True)
    def fold(bits, lshift, real, table, n0, n1, batch_max, hist, total):  # pragma: no cover
        n_batch, n_pos = real.shape
        word = np.empty(_BLOCK, np.uint32)
        value = word.view(np.float32)
        for lo in range(n0, n1, _BLOCK):
            width = min(_BLOCK, n1 - lo)
            acc = np.zeros(_BLOCK, np.float64)
            for b in range(n_batch):
                best = np.full(_BLOCK, -np.inf, np.float32)
                for p in range(n_pos):
                    if not real[b, p]:
                        continue
                    for j in range(width):
                        w = np.uint32(bits[b, p, lo + j]) << lshift
                        word[j] = w
                        hist[lo + j, table[w >> np.uint32(22)]] += 1
                    for j in range(width):
                        v = value[j]
                        acc[j] += v
                        if v > best[j]:
                            best[j] = v
                for j in range(width):
                    batch_max[b, lo + j] = best[j]
            for j in range(width):
                total[lo + j] += acc[j]

    return fold


def kernel_available() -> bool:
    return _kernel() is not None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="babellens-scan-fold")
    return _POOL


@cache
def _table() -> np.ndarray:
    return bin_table().numpy().astype(np.int32)


def fold_batch_stats(
    acts: torch.Tensor, real: torch.Tensor, hist: torch.Tensor, act_sum: torch.Tensor
) -> torch.Tensor:
    """Fold ``acts`` [batch, pos, d_mlp] (CPU, bfloat16 or float32) into ``hist`` [d_mlp, bins]
    (int64, counts added in place) and ``act_sum`` [d_mlp] (float64, the batch's sum over real
    positions added in place); returns each window's maximum per neuron, float32 [batch, d_mlp].

    ``real`` [batch, pos] marks the positions that are not padding; padding is skipped.
    """
    fold = _kernel()
    if fold is None:
        raise RuntimeError("the compiled scan fold needs numba: pip install numba")
    int_dtype, np_dtype, lshift = _SHIFT[acts.dtype]
    bits = acts.contiguous().view(int_dtype).numpy().view(np_dtype)
    mask = real.to("cpu", torch.bool).contiguous().numpy()
    batch_max = torch.empty(acts.shape[0], acts.shape[2], dtype=torch.float32)
    outputs = (batch_max.numpy(), hist.numpy(), act_sum.numpy())
    d_mlp = acts.shape[2]
    parts = max(1, min(torch.get_num_threads(), 8, -(-d_mlp // _BLOCK)))
    step = -(-d_mlp // (parts * _BLOCK)) * _BLOCK
    ranges = [(lo, min(d_mlp, lo + step)) for lo in range(0, d_mlp, step)]
    futures = [
        _pool().submit(fold, bits, lshift, mask, _table(), lo, hi, *outputs)
        for lo, hi in ranges[1:]
    ]
    fold(bits, lshift, mask, _table(), *ranges[0], *outputs)
    for future in futures:
        future.result()
    return batch_max
