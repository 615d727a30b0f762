"""One pass over a batch's activations for everything the scan keeps per neuron, on a CPU.

Per layer and batch the scan needs each window's maximum per neuron, the histogram counts, the
sum over real positions, and, for the windows that enter a neuron's top k, their activations and
argmax position. As tensor operations that is about ten passes over ``[tokens, d_mlp]`` plus a
sort and a scattered gather; with a bfloat16 forward pass taking about 20 ms per layer and batch
on these CPUs, those passes cost more than the layer itself. Here it is one pass, compiled by
numba: each thread owns a contiguous range of neurons (so no two threads touch the same row,
and the result does not depend on the number of threads), and works through it in blocks of 64
neurons whose activations stay in cache from the statistics to the top-k copy. The bin of a
value comes from its bit pattern exactly as in :mod:`histogram`; a bfloat16 value is the top half
of its float32 pattern, so it is read as 16-bit integers (its key a shift away), never copied.
A newly kept window's activations go straight into the float16 store, rounded in integer
arithmetic as ``.half()`` rounds them, so no float32 staging copy or scattered gather is made.
The update's threads are PyTorch's own OpenMP workers where PyTorch uses GNU OpenMP (Linux; see
:mod:`omp_team`): a thread of ours would share its core with a worker still spinning after the
forward's last operator, which made the update 43% slower; elsewhere they are threads of ours.

numba is an ordinary dependency; where it cannot be imported (a platform without its wheels),
:func:`kernel_available` says so and the accumulator uses tensor operations, which keep the same
state (the tests compare the two, and both with a brute-force scan).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch

from babellens.analyses.neuron_scan import omp_team
from babellens.analyses.neuron_scan.histogram import bin_table
from babellens.analyses.neuron_scan.team_update import run_update_in_team

__all__ = [
    "StatsBackend",
    "UpdateRunner",
    "fold_and_insert",
    "fold_batch_stats",
    "insert_top_k",
    "kernel_available",
    "kernel_dtypes",
    "update_runner",
]

StatsBackend = Literal["kernel", "torch"]
"""``kernel``: the one-pass compiled update (CPU, bfloat16 or float32); ``torch``: tensor ops."""
UpdateRunner = Literal["team", "threads"]
"""``team``: PyTorch's OpenMP workers run the update (:mod:`omp_team`); ``threads``: our own."""

_BLOCK = 64  # neurons per block: their histogram counts (18 KB) and activations stay in cache
_POOL: ThreadPoolExecutor | None = None
# per dtype: its bits as unsigned integers, the shift that makes them a float32 pattern, and the
# shift that leaves the 10-bit histogram key (sign, exponent, top mantissa bit)
_SHIFT = {
    torch.bfloat16: (torch.int16, np.uint16, 16, 6),
    torch.float32: (torch.int32, np.uint32, 0, 22),
}


_RUNNER: UpdateRunner = "team"


def update_runner() -> UpdateRunner:
    """Whose threads run the update by default: PyTorch's team where it is GNU OpenMP."""
    return _RUNNER if omp_team.team() is not None else "threads"


def kernel_dtypes() -> tuple[torch.dtype, ...]:
    return tuple(_SHIFT)


def _compile() -> SimpleNamespace:  # pragma: no cover (compiled code; tested through its callers)
    from numba import njit

    @njit(nogil=True, cache=True)
    def fold(bits, lshift, kshift, real, table, lo, width, batch_max, hist, total):
        """Statistics of neurons lo..lo+width (one block)."""
        n_batch, n_pos = real.shape
        n_bins = hist.shape[1]
        word = np.empty(_BLOCK, np.uint32)
        value = word.view(np.float32)
        counts = np.zeros((n_bins, _BLOCK), np.int32)  # bin-major: neighbours share a line
        acc = np.zeros(_BLOCK, np.float64)
        for b in range(n_batch):
            best = np.full(_BLOCK, -np.inf, np.float32)
            for p in range(n_pos):
                if not real[b, p]:
                    continue
                row = bits[b, p, lo : lo + width]
                for j in range(width):
                    counts[table[row[j] >> kshift], j] += 1  # the key in the value's own width
                for j in range(width):
                    word[j] = np.uint32(row[j]) << lshift
                for j in range(width):
                    v = value[j]
                    acc[j] += v
                    if v > best[j]:
                        best[j] = v
            for j in range(width):
                batch_max[b, lo + j] = best[j]
        for j in range(width):
            # rounded to float32, the per-batch sums add up exactly in float64 in any order,
            # so shards of a scan merge into exactly the one-pass sum
            total[lo + j] += np.float32(acc[j])
            for k in range(n_bins):
                hist[lo + j, k] += counts[k, j]

    @njit(nogil=True, cache=True)
    def weakest(values, windows, n):
        """The slot that ranks last: lowest value, then the latest window (empty slots first)."""
        slot = 0
        for s in range(1, values.shape[1]):
            if values[n, s] < values[n, slot] or (
                values[n, s] == values[n, slot] and windows[n, s] > windows[n, slot]
            ):
                slot = s
        return slot

    @njit(nogil=True, cache=True)
    def insert(batch_max, window_ids, lo, hi, top_values, top_windows, occupant):
        """The batch's windows into the kept top k of neurons lo..hi; ``occupant[n, slot]``
        becomes the batch row of a slot that now holds one of them."""
        for n in range(lo, hi):
            slot = weakest(top_values, top_windows, n)
            for b in range(batch_max.shape[0]):
                # the batch's windows come after every kept one, so a tie ranks below: strictly >
                if batch_max[b, n] > top_values[n, slot]:
                    top_values[n, slot] = batch_max[b, n]
                    top_windows[n, slot] = window_ids[b]
                    occupant[n, slot] = b
                    slot = weakest(top_values, top_windows, n)

    @njit(nogil=True, cache=True)
    def half_bits(word):
        """IEEE float16 pattern of the float32 pattern ``word`` (an int64 holding 32 bits),
        rounded to nearest even like ``.half()``; integer operations only."""
        sign = (word >> 16) & 0x8000
        mag = word & 0x7FFFFFFF
        if mag > 0x7F800000:  # NaN: quiet, top of the payload kept
            return sign | 0x7E00 | ((mag >> 13) & 0x3FF)
        if mag >= 0x477FF000:  # at or past the halfway point to 2^16: infinity
            return sign | 0x7C00
        if mag >= 0x38800000:  # a normal half: rebias the exponent, round off 13 bits
            half, rest, tie = (mag - 0x38000000) >> 13, mag & 0x1FFF, 0x1000
        else:  # below 2^-14: a subnormal half, in units of 2^-24
            exponent = mag >> 23
            shift = 126 - exponent  # 14 or more
            if exponent == 0 or shift > 25:  # under 2^-26: rounds to zero
                return sign
            significand = (mag & 0x7FFFFF) | 0x800000
            half, rest = significand >> shift, significand & ((1 << shift) - 1)
            tie = 1 << (shift - 1)
        if rest > tie or (rest == tie and half & 1):
            half += 1
        return sign | half

    @njit(nogil=True, cache=True)
    def copy_examples(bits, lshift, real, lo, hi, occupant, batch_max, top_positions, top_acts):
        """Activations (float16 patterns, padding 0) and first argmax of every newly kept window.

        The block's rows (16 KB a window for 64 neurons in bfloat16) stay in cache from the
        fold to here; the argmax is the first real position equal to the window's maximum from
        the fold, so no float is compared."""
        n_pos = real.shape[1]
        length = top_acts.shape[2]
        for n in range(lo, hi):
            for slot in range(occupant.shape[1]):
                b = occupant[n, slot]
                if b < 0:
                    continue
                peak = np.int64(batch_max[b, n : n + 1].view(np.uint32)[0])
                where = -1
                for p in range(length):
                    if p >= n_pos or not real[b, p]:
                        top_acts[n, slot, p] = 0
                        continue
                    word = np.int64(bits[b, p, n]) << lshift
                    top_acts[n, slot, p] = half_bits(word)
                    if where < 0 and (word == peak or ((word | peak) & 0x7FFFFFFF) == 0):
                        where = p
                top_positions[n, slot] = where

    @njit(nogil=True, cache=True)
    def fold_range(bits, lshift, kshift, real, table, n0, n1, batch_max, hist, total):
        for lo in range(n0, n1, _BLOCK):
            width = min(_BLOCK, n1 - lo)
            fold(bits, lshift, kshift, real, table, lo, width, batch_max, hist, total)

    @njit(nogil=True, cache=True)
    def update_range(
        bits,
        lshift,
        kshift,
        real,
        table,
        window_ids,
        n0,
        n1,
        batch_max,
        hist,
        total,
        top_values,
        top_windows,
        top_positions,
        top_acts,
        occupant,
    ):
        for lo in range(n0, n1, _BLOCK):
            hi = min(n1, lo + _BLOCK)
            fold(bits, lshift, kshift, real, table, lo, hi - lo, batch_max, hist, total)
            insert(batch_max, window_ids, lo, hi, top_values, top_windows, occupant)
            copy_examples(bits, lshift, real, lo, hi, occupant, batch_max, top_positions, top_acts)

    return SimpleNamespace(
        fold_range=fold_range, insert=insert, copy_examples=copy_examples, update_range=update_range
    )


@cache
def _kernels() -> SimpleNamespace | None:
    """The compiled kernels (compiled once, then read from numba's cache), or None without numba."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    return _compile()


def kernel_available() -> bool:
    return _kernels() is not None


def _require() -> SimpleNamespace:
    kernels = _kernels()
    if kernels is None:
        raise RuntimeError("the compiled scan update needs numba: pip install numba")
    return kernels


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="babellens-scan-fold")
    return _POOL


def _split_over_threads(kernel: Any, d_mlp: int, *inputs: Any, outputs: tuple) -> None:
    """``kernel(*inputs, n0, n1, *outputs)`` over contiguous neuron ranges, one per thread."""
    parts = max(1, min(torch.get_num_threads(), 8, -(-d_mlp // _BLOCK)))
    step = -(-d_mlp // (parts * _BLOCK)) * _BLOCK
    ranges = [(lo, min(d_mlp, lo + step)) for lo in range(0, d_mlp, step)]
    futures = [_pool().submit(kernel, *inputs, lo, hi, *outputs) for lo, hi in ranges[1:]]
    kernel(*inputs, *ranges[0], *outputs)
    for future in futures:
        future.result()


@cache
def _table() -> np.ndarray:
    return bin_table().numpy().astype(np.int32)


def _bits(acts: torch.Tensor, real: torch.Tensor) -> tuple[np.ndarray, int, int, np.ndarray]:
    int_dtype, np_dtype, lshift, kshift = _SHIFT[acts.dtype]
    bits = acts.contiguous().view(int_dtype).numpy().view(np_dtype)
    return bits, lshift, kshift, real.to("cpu", torch.bool).contiguous().numpy()


def fold_batch_stats(
    acts: torch.Tensor, real: torch.Tensor, hist: torch.Tensor, act_sum: torch.Tensor
) -> torch.Tensor:
    """Fold ``acts`` [batch, pos, d_mlp] (CPU, bfloat16 or float32) into ``hist`` [d_mlp, bins]
    (int64, counts added in place) and ``act_sum`` [d_mlp] (float64; the batch's sum over real
    positions, summed in float64 and rounded to float32, added in place); returns each window's
    maximum per neuron, float32 [batch, d_mlp].

    ``real`` [batch, pos] marks the positions that are not padding; padding is skipped.
    """
    kernels = _require()
    batch_max = torch.empty(acts.shape[0], acts.shape[2], dtype=torch.float32)
    outputs = (batch_max.numpy(), hist.numpy(), act_sum.numpy())
    bits, lshift, kshift, mask = _bits(acts, real)
    inputs = (bits, lshift, kshift, mask, _table())
    _split_over_threads(kernels.fold_range, acts.shape[2], *inputs, outputs=outputs)
    return batch_max


def insert_top_k(
    batch_max: torch.Tensor,
    window_ids: torch.Tensor,
    top_values: torch.Tensor,
    top_windows: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Insert a batch's windows into every neuron's kept top-k, in place (CPU tensors).

    ``batch_max`` [batch, d_mlp] of windows ``window_ids`` [batch] (ascending, after every kept
    window); ``top_values``/``top_windows`` [d_mlp, k], unordered slots. The kept set ends as
    the best k of kept and new by value descending, then window ascending (what
    :func:`~babellens.analyses.topk.top_k_order` ranks). Returns the (neuron, slot, batch row)
    of every slot that now holds a window of this batch.
    """
    kernels = _require()
    occupant = torch.full(top_values.shape, -1, dtype=torch.int32)
    inputs = (batch_max.contiguous().numpy(), window_ids.to("cpu", torch.int64).numpy())
    outputs = (top_values.numpy(), top_windows.numpy(), occupant.numpy())
    _split_over_threads(kernels.insert, top_values.shape[0], *inputs, outputs=outputs)
    rows, slots = (occupant >= 0).nonzero(as_tuple=True)
    return rows, slots, occupant[rows, slots].long()


def fold_and_insert(
    acts: torch.Tensor,
    real: torch.Tensor,
    window_ids: torch.Tensor,
    state: dict[str, torch.Tensor],
    runner: UpdateRunner | None = None,
) -> tuple[torch.Tensor, int]:
    """:func:`fold_batch_stats` and :func:`insert_top_k` in one pass, block by block, plus the
    newly kept windows' activations and first argmax positions.

    ``state``: the accumulator's ``hist``, ``act_sum``, ``top_values``, ``top_windows``,
    ``top_positions`` and ``top_acts`` (float16 [d_mlp, k, window_len]: a newly kept window's
    activations rounded to float16, padding 0), updated in place. ``runner``: whose threads run
    it (default :func:`update_runner`). Returns the batch maxima and how many (neuron, slot)
    pairs took a window of this batch.
    """
    kernels = _require()
    batch_max = torch.empty(acts.shape[0], acts.shape[2], dtype=torch.float32)
    occupant = torch.full(state["top_values"].shape, -1, dtype=torch.int32)
    bits, lshift, kshift, mask = _bits(acts, real)
    arrays = {
        "bits": bits,
        "real": mask,
        "table": _table(),
        "window_ids": window_ids.to("cpu", torch.int64).contiguous().numpy(),
        "batch_max": batch_max.numpy(),
        "hist": state["hist"].numpy(),
        "total": state["act_sum"].numpy(),
        **{key: state[key].numpy() for key in ("top_values", "top_windows", "top_positions")},
        "top_acts": state["top_acts"].view(torch.int16).numpy().view(np.uint16),
        "occupant": occupant.numpy(),
    }
    team = omp_team.team() if (runner or update_runner()) == "team" else None
    if team is not None:
        run_update_in_team(
            team, kernels.update_range, lshift, kshift, arrays, torch.get_num_threads()
        )
    else:
        inputs = (bits, lshift, kshift, mask, arrays["table"], arrays["window_ids"])
        written = ("batch_max", "hist", "total", "top_values", "top_windows", "top_positions")
        outputs = tuple(arrays[name] for name in (*written, "top_acts", "occupant"))
        _split_over_threads(kernels.update_range, acts.shape[2], *inputs, outputs=outputs)
    return batch_max, int((occupant >= 0).sum())
