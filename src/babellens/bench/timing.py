"""Interleaved timing of several ways to process the same batches, in one process."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

__all__ = ["interleaved_seconds", "sync_device"]


def sync_device(device: torch.device) -> None:
    """Wait for the device: a GPU call returns before its work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_seconds(
    methods: dict[str, Callable[[torch.Tensor], object]],
    batches: Sequence[torch.Tensor],
    *,
    rounds: int,
    device: torch.device,
) -> dict[str, float]:
    """Total seconds per method; every round runs each method over every batch, methods in turn.

    Interleaving spreads slow drift (thermal, other processes) evenly over the methods, so their
    ratio is meaningful even on a busy 2-core machine. One warm-up batch per method is not timed.
    """
    totals = dict.fromkeys(methods, 0.0)
    with torch.inference_mode():
        for fn in methods.values():
            fn(batches[0])
        for _ in range(rounds):
            for batch in batches:
                for name, fn in methods.items():
                    sync_device(device)
                    start = time.perf_counter()
                    fn(batch)
                    sync_device(device)
                    totals[name] += time.perf_counter() - start
    return totals
