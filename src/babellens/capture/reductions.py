"""Reductions applied inside a hook, so only the reduced tensor leaves it.

A reduction takes the activation ``[batch, pos, ...]`` and the attention mask ``[batch, pos]``
(``None`` when every position is real) and must ignore padded positions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["Reduction", "last_position", "max_over_positions", "mean_over_positions"]

Reduction = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor | None]
"""``(activation, mask) -> reduced``; returning ``None`` keeps nothing (the reduction accumulated it)."""


def _expand(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return mask.reshape(*mask.shape, *([1] * (x.ndim - 2))).bool()


def max_over_positions(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``[batch, ...]``: the maximum over real (unpadded) positions."""
    if mask is None:
        return x.amax(dim=1)
    return x.masked_fill(~_expand(mask, x), float("-inf")).amax(dim=1)


def mean_over_positions(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return x.mean(dim=1)
    m = _expand(mask, x).to(x.dtype)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)


def last_position(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The activation at each sequence's last real token (right padding)."""
    if mask is None:
        return x[:, -1]
    last = mask.long().sum(dim=1) - 1
    return x[torch.arange(x.shape[0], device=x.device), last.to(x.device)]
