"""Edits for the transfer matrix: project a direction out of the residual stream at every layer
(directional ablation, Arditi et al. 2024) or add one at a layer, with a different direction
per batch row so that every cell of a matrix shares batches."""

from __future__ import annotations

import torch

from babellens.capture.interventions import Intervention, add

__all__ = ["ablation_interventions", "project_out", "row_push"]


def project_out(point: str, units: torch.Tensor) -> Intervention:
    """``x - (x·u) u`` per row, ``units`` [batch, d] of unit (or zero: no edit) vectors."""

    def edit(x: torch.Tensor) -> torch.Tensor:
        u = units.to(x.device, x.dtype)
        along = torch.einsum("bpd,bd->bp", x, u)
        return x - along[..., None] * u[:, None, :]

    return Intervention(point, "fn", edit)


def ablation_interventions(n_layers: int, units: torch.Tensor) -> list[Intervention]:
    """Project out at the embedding output and after every block, so no layer can write the
    direction back (every later read sees the stream without it)."""
    points = ["resid_pre.0", *(f"resid_post.{layer}" for layer in range(n_layers))]
    return [project_out(point, units) for point in points]


def row_push(layer: int, vectors: torch.Tensor) -> Intervention:
    """Add ``vectors[row]`` at every position of each row at ``resid_post.layer``."""
    return add(f"resid_post.{layer}", vectors[:, None, :])
