"""The scan's compiled per-layer update, run by PyTorch's OpenMP team (see :mod:`omp_team`).

The kernel is the same ``update_range`` that :mod:`fused_stats` runs on its own threads; here a
numba ``cfunc`` entry reads the arrays' addresses and shapes from a table of int64 words, and
each thread of the team takes its contiguous range of neurons by its thread index. Every neuron
is still updated by exactly one thread with the same code, so the state is the same bit for
bit whichever runs it and on how many threads (the tests compare them).

The table is checked against the arrays' dtypes, shapes and layout before the call: the kernel
trusts raw addresses, so a mismatch would write outside the arrays instead of raising.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from babellens.analyses.neuron_scan.omp_team import OmpTeam

__all__ = ["run_update_in_team"]

_BLOCK = 64  # as in fused_stats: a thread's range is a whole number of blocks
# header words, then one address per array in _ARRAYS' order
_HEADER = ("thread_num", "num_threads", "word_bits", "lshift", "kshift", "n_batch", "n_pos")
_HEADER += ("d_mlp", "k", "length", "n_bins", "n_keys")
_ARRAYS = ("bits", "real", "table", "window_ids", "batch_max", "hist", "total")
_ARRAYS += ("top_values", "top_windows", "top_positions", "top_acts", "occupant")


def _compile(update_range: Any) -> Any:  # pragma: no cover (compiled code; tested via its caller)
    from llvmlite import ir
    from numba import carray, cfunc, types
    from numba.core.extending import intrinsic

    @intrinsic
    def as_pointer(typingctx: Any, address: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

        return types.voidptr(types.int64), codegen

    @intrinsic
    def call_int(typingctx: Any, address: Any) -> Any:
        """Call the C function ``int f(void)`` at ``address`` (omp_get_thread_num and kin)."""

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            fn_type = ir.FunctionType(ir.IntType(32), [])
            fn = builder.inttoptr(args[0], fn_type.as_pointer())
            return builder.sext(builder.call(fn, []), ir.IntType(64))

        return types.int64(types.int64), codegen

    n_header = len(_HEADER)

    @cfunc(types.void(types.voidptr), nogil=True, cache=True)
    def kernel(data: Any) -> None:
        t = carray(data, (n_header + 12,), np.int64)
        n_batch, n_pos, d_mlp, k, length, n_bins, n_keys = (
            t[5],
            t[6],
            t[7],
            t[8],
            t[9],
            t[10],
            t[11],
        )
        tid, n_threads = call_int(t[0]), call_int(t[1])
        parts = max(1, min(n_threads, (d_mlp + _BLOCK - 1) // _BLOCK))
        step = (d_mlp + parts * _BLOCK - 1) // (parts * _BLOCK) * _BLOCK
        lo = tid * step
        hi = min(d_mlp, lo + step)
        if lo >= hi:
            return
        a = n_header
        real = carray(as_pointer(t[a + 1]), (n_batch, n_pos), np.bool_)
        table = carray(as_pointer(t[a + 2]), (n_keys,), np.int32)
        ids = carray(as_pointer(t[a + 3]), (n_batch,), np.int64)
        batch_max = carray(as_pointer(t[a + 4]), (n_batch, d_mlp), np.float32)
        hist = carray(as_pointer(t[a + 5]), (d_mlp, n_bins), np.int64)
        total = carray(as_pointer(t[a + 6]), (d_mlp,), np.float64)
        values = carray(as_pointer(t[a + 7]), (d_mlp, k), np.float32)
        windows = carray(as_pointer(t[a + 8]), (d_mlp, k), np.int64)
        positions = carray(as_pointer(t[a + 9]), (d_mlp, k), np.int64)
        acts = carray(as_pointer(t[a + 10]), (d_mlp, k, length), np.uint16)
        occupant = carray(as_pointer(t[a + 11]), (d_mlp, k), np.int32)
        rest = (ids, lo, hi, batch_max, hist, total, values, windows, positions, acts, occupant)
        if t[2] == 16:
            bits16 = carray(as_pointer(t[a]), (n_batch, n_pos, d_mlp), np.uint16)
            update_range(bits16, t[3], t[4], real, table, *rest)
        else:
            bits32 = carray(as_pointer(t[a]), (n_batch, n_pos, d_mlp), np.uint32)
            update_range(bits32, t[3], t[4], real, table, *rest)

    return kernel


@cache
def _kernel_address(update_range: Any) -> int:
    return int(_compile(update_range).address)


def _expected(arrays: dict[str, np.ndarray]) -> dict[str, tuple[Any, tuple[int, ...]]]:
    n_batch, n_pos, d_mlp = arrays["bits"].shape
    k = arrays["top_values"].shape[1]
    length = arrays["top_acts"].shape[2]
    return {
        "real": (np.bool_, (n_batch, n_pos)),
        "table": (np.int32, arrays["table"].shape),
        "window_ids": (np.int64, (n_batch,)),
        "batch_max": (np.float32, (n_batch, d_mlp)),
        "hist": (np.int64, (d_mlp, arrays["hist"].shape[1])),
        "total": (np.float64, (d_mlp,)),
        "top_values": (np.float32, (d_mlp, k)),
        "top_windows": (np.int64, (d_mlp, k)),
        "top_positions": (np.int64, (d_mlp, k)),
        "top_acts": (np.uint16, (d_mlp, k, length)),
        "occupant": (np.int32, (d_mlp, k)),
    }


def run_update_in_team(
    team: OmpTeam,
    update_range: Any,
    lshift: int,
    kshift: int,
    arrays: dict[str, np.ndarray],
    n_threads: int,
) -> None:
    """``update_range`` over all neurons, split across ``n_threads`` threads of ``team``.

    ``arrays``: numpy views named as in ``_ARRAYS`` (``bits`` uint16 or uint32); all are
    checked before any address is handed over."""
    bits = arrays["bits"]
    if bits.dtype not in (np.uint16, np.uint32) or bits.ndim != 3:
        raise ValueError(f"bits must be [batch, pos, d_mlp] uint16 or uint32, not {bits.dtype}")
    for name, (dtype, shape) in {"bits": (bits.dtype, bits.shape), **_expected(arrays)}.items():
        array = arrays[name]
        if array.dtype != dtype or array.shape != shape or not array.flags.c_contiguous:
            raise ValueError(f"{name}: expected contiguous {np.dtype(dtype)} {shape}")
    n_batch, n_pos, d_mlp = bits.shape
    header = {
        "thread_num": team.thread_num,
        "num_threads": team.num_threads,
        "word_bits": bits.dtype.itemsize * 8,
        "lshift": lshift,
        "kshift": kshift,
        "n_batch": n_batch,
        "n_pos": n_pos,
        "d_mlp": d_mlp,
        "k": arrays["top_values"].shape[1],
        "length": arrays["top_acts"].shape[2],
        "n_bins": arrays["hist"].shape[1],
        "n_keys": arrays["table"].shape[0],
    }
    words = [header[name] for name in _HEADER] + [arrays[name].ctypes.data for name in _ARRAYS]
    table = np.array(words, dtype=np.int64)
    team.run(_kernel_address(update_range), table, n_threads)
