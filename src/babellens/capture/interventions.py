"""Edits applied to an activation inside its hook: add, replace, scale, zero-ablate.

Each edit can be restricted to heads (``attn_z``, ``attn_pattern``), neurons or feature indices
(the last axis of any point) and positions, by a boolean mask built from broadcastable pieces, so
any combination of the three selects their outer product, not a zip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from babellens.capture.hook_points import HOOK_KINDS, HookPoint
from babellens.errors import InvalidInputError

__all__ = ["Intervention", "add", "replace", "scale", "zero_ablate"]

Op = Literal["add", "replace", "scale", "zero", "fn"]


@dataclass(frozen=True)
class Intervention:
    """One edit at one hook point. Build with :func:`add`, :func:`zero_ablate` and friends."""

    point: str | HookPoint
    op: Op
    value: torch.Tensor | float | Callable[[torch.Tensor], torch.Tensor] | None = None
    heads: Sequence[int] | None = None
    neurons: Sequence[int] | None = None
    positions: Sequence[int] | None = None

    def apply(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        """The edited activation (a new tensor; ``x`` is left untouched)."""
        new = self._new_values(x)
        mask = self._mask(x, kind)
        if mask is None:
            return new
        return torch.where(mask, new, x)

    def _new_values(self, x: torch.Tensor) -> torch.Tensor:
        if self.op == "zero":
            return torch.zeros_like(x)
        if self.op == "fn":
            return self.value(x)  # type: ignore[operator, misc]
        value = self.value
        if isinstance(value, torch.Tensor):
            value = value.to(device=x.device, dtype=x.dtype)
        if self.op == "add":
            return x + value  # type: ignore[operator]
        if self.op == "scale":
            return x * value  # type: ignore[operator]
        return (
            torch.broadcast_to(value, x.shape)
            if isinstance(value, torch.Tensor)
            else torch.full_like(x, value)
        )  # type: ignore[arg-type]

    def _mask(self, x: torch.Tensor, kind: str) -> torch.Tensor | None:
        info = HOOK_KINDS[kind]
        mask: torch.Tensor | None = None
        selections = [(self.positions, info.pos_axis, "positions")]
        selections.append((self.heads, info.head_axis, "heads"))
        selections.append((self.neurons, x.ndim - 1, "neurons"))
        for indices, axis, label in selections:
            if indices is None:
                continue
            if axis is None:
                raise InvalidInputError(f"{label} cannot be selected at a {kind} hook point")
            part = _axis_mask(x, axis, indices, label)
            mask = part if mask is None else mask & part
        return mask


def _axis_mask(x: torch.Tensor, axis: int, indices: Sequence[int], label: str) -> torch.Tensor:
    size = x.shape[axis]
    idx = torch.as_tensor(list(indices), dtype=torch.long, device=x.device)
    if idx.numel() and (idx.min() < -size or idx.max() >= size):
        raise InvalidInputError(
            f"{label} {list(indices)} out of range: this axis has {size} entries"
        )
    flat = torch.zeros(size, dtype=torch.bool, device=x.device)
    flat[idx] = True
    shape = [1] * x.ndim
    shape[axis] = size
    return flat.reshape(shape)


def add(
    point: str | HookPoint,
    vector: torch.Tensor | float,
    *,
    positions: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    neurons: Sequence[int] | None = None,
) -> Intervention:
    """Add ``vector`` (broadcast over batch and positions), e.g. a steering vector at ``resid_post``."""
    return Intervention(point, "add", vector, heads=heads, neurons=neurons, positions=positions)


def replace(
    point: str | HookPoint,
    value: torch.Tensor | float,
    *,
    positions: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    neurons: Sequence[int] | None = None,
) -> Intervention:
    """Overwrite the selected entries with ``value`` (patching)."""
    return Intervention(point, "replace", value, heads=heads, neurons=neurons, positions=positions)


def scale(
    point: str | HookPoint,
    factor: float | torch.Tensor,
    *,
    positions: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    neurons: Sequence[int] | None = None,
) -> Intervention:
    return Intervention(point, "scale", factor, heads=heads, neurons=neurons, positions=positions)


def zero_ablate(
    point: str | HookPoint,
    *,
    positions: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    neurons: Sequence[int] | None = None,
) -> Intervention:
    """Set the selected entries to zero, e.g. one head's ``attn_z`` or one neuron's ``mlp_post``."""
    return Intervention(point, "zero", None, heads=heads, neurons=neurons, positions=positions)
