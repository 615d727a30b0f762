"""The running top-k of the scans and the look-ups: one order, one merge.

Order is value descending, then window index ascending, so equal values keep the earliest
window and a scan in shards, resumed or not, keeps exactly what one pass keeps. The neuron
scan's accumulator (``analyses.neuron_scan.accumulator``) and the look-ups' targeted pass
(``lookups.prompts_data``) both rank and merge with these two functions; :class:`RunningTopK`
is the small holder the look-ups keep per layer.
"""

from __future__ import annotations

import torch

__all__ = ["RunningTopK", "merge_top_k", "top_k_order"]


def top_k_order(values: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """``[rows, n]`` column order of each row: value descending, then window ascending."""
    by_window = torch.sort(windows, dim=1, stable=True).indices
    by_value = torch.sort(values.gather(1, by_window), dim=1, descending=True, stable=True).indices
    return by_window.gather(1, by_value)


def merge_top_k(
    k: int, values: torch.Tensor, windows: torch.Tensor, *payloads: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """The best ``k`` columns of each row (``values``, ``windows`` [rows, n]), and the same
    columns of every payload (``[rows, n, ...]``: positions, activations)."""
    keep = top_k_order(values, windows)[:, :k]
    kept = [values.gather(1, keep), windows.gather(1, keep)]
    for payload in payloads:
        index = keep.view(*keep.shape, *([1] * (payload.dim() - 2)))
        kept.append(payload.gather(1, index.expand(-1, -1, *payload.shape[2:])))
    return tuple(kept)


class RunningTopK:
    """Top ``k`` (value, window, position) per row, updated batch by batch; empty slots hold
    value -inf and window -1."""

    def __init__(self, rows: int, k: int, device: torch.device | str = "cpu") -> None:
        self.k = k
        self.values = torch.full((rows, k), float("-inf"), device=device)
        self.windows = torch.full((rows, k), -1, dtype=torch.long, device=device)
        self.positions = torch.full((rows, k), -1, dtype=torch.long, device=device)

    def update(self, values: torch.Tensor, windows: torch.Tensor, positions: torch.Tensor) -> None:
        """``values``/``positions`` [rows, batch] for ``windows`` [batch] (or [rows, batch])."""
        windows = windows.expand(values.shape[0], -1) if windows.dim() == 1 else windows
        self.values, self.windows, self.positions = merge_top_k(
            self.k,
            torch.cat([self.values, values.to(self.values)], dim=1),
            torch.cat([self.windows, windows.to(self.windows.device)], dim=1),
            torch.cat([self.positions, positions.to(self.positions.device)], dim=1),
        )
