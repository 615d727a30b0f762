"""Run compiled code inside PyTorch's own OpenMP thread team, instead of beside it.

After every parallel operator, PyTorch's OpenMP workers keep spinning for a while before they
sleep. A scan's per-layer update runs between two operators of the forward pass, so a second
update thread of our own lands on a core whose worker is still spinning, and the two share it:
measured on a 2-core CPU, the update took 16.1 ms per layer and batch on two threads of ours,
18.4 ms on one, and 10.4 ms with the spinning turned off (``GOMP_SPINCOUNT=0``, a process-wide
setting BabelLens does not impose). Handing the update to the same team through
``GOMP_parallel`` lets the spinning worker do it.

The team's library is the ``libgomp`` that PyTorch loaded (found in the process's memory map,
so it is that copy and not the system's). A kernel is a C function taking one pointer (a numba
``cfunc``; :mod:`team_update` passes it a table of int64 words with its arrays' addresses). Where
PyTorch is not built with GNU OpenMP (macOS, Windows, other backends), :func:`team` is None and
callers keep their own threads.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["OmpTeam", "team"]


@dataclass(frozen=True)
class OmpTeam:
    """PyTorch's GNU OpenMP runtime: the entry that starts a parallel region, and the addresses
    of the functions a kernel calls to learn its thread's index and the team's size."""

    library: Path
    parallel: Any  # ctypes function GOMP_parallel(fn, data, num_threads, flags)
    thread_num: int  # address of omp_get_thread_num
    num_threads: int  # address of omp_get_num_threads

    def run(self, kernel_address: int, table: np.ndarray, n_threads: int) -> None:
        """``kernel(table)`` on ``n_threads`` threads of the team (the caller is thread 0).

        ctypes releases the GIL for the call, so the compiled kernel runs free of Python."""
        if table.dtype != np.int64 or not table.flags.c_contiguous:
            raise ValueError("the kernel's table must be a contiguous int64 array")
        self.parallel(kernel_address, table.ctypes.data, max(1, n_threads), 0)


def _loaded_gomp() -> Path | None:
    """The libgomp that PyTorch's own directory holds and this process has mapped."""
    torch_dir = Path(torch.__file__).resolve().parent
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.rsplit(" ", 1)[-1]
        if "libgomp" in Path(path).name and torch_dir in Path(path).resolve().parents:
            return Path(path)
    return None


@cache
def team() -> OmpTeam | None:
    """PyTorch's OpenMP team, or None where its parallel backend is not GNU OpenMP."""
    if "ATen parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    path = _loaded_gomp()
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    parallel = lib.GOMP_parallel
    parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    parallel.restype = None
    return OmpTeam(
        library=path,
        parallel=parallel,
        thread_num=ctypes.cast(lib.omp_get_thread_num, ctypes.c_void_p).value or 0,
        num_threads=ctypes.cast(lib.omp_get_num_threads, ctypes.c_void_p).value or 0,
    )
