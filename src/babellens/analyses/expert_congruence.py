"""Next-token congruence of mixture-of-experts units: each (expert, neuron)'s W_out row through
the unembedding, with the final norm folded in exactly as for dense neurons.

A unit of an MoE layer is ``(expert, neuron)``; what it writes is row ``n`` of expert ``e``'s down
projection, scaled by the routing weight at run time. The weight is a positive scalar per token,
so it changes the size, not the direction, of what a unit promotes: congruence is read from the
weights alone, like :mod:`babellens.analyses.next_token_neurons` does for dense MLPs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from babellens.analyses.next_token_neurons import congruence_extremes, final_norm_scale
from babellens.models.adapters.adapter import ModelAdapter

__all__ = ["ExpertCongruence", "expert_congruence", "expert_output_weights"]


@dataclass(frozen=True)
class ExpertCongruence:
    """Per unit ``[n_experts, d_expert, n]``: the most promoted and suppressed token ids and
    their congruence (``W_out_eff[e, n] · W_U[:, token]``)."""

    layer: int
    top_ids: torch.Tensor
    top_values: torch.Tensor
    bottom_ids: torch.Tensor
    bottom_values: torch.Tensor


def expert_output_weights(
    adapter: ModelAdapter, layer: int, fold_final_norm: bool = True
) -> torch.Tensor:
    """``[n_experts, d_expert, d_model]`` in float32, the final norm's scale (and centring) folded."""
    w = adapter.w_out_experts(layer).float()
    if not fold_final_norm:
        return w
    gamma, centres = final_norm_scale(adapter)
    if centres:
        w = w - w.mean(dim=-1, keepdim=True)
    return w * gamma


def expert_congruence(
    adapter: ModelAdapter,
    layer: int,
    top: int = 10,
    *,
    fold_final_norm: bool = True,
    chunk_size: int = 16384,
) -> ExpertCongruence:
    """Top and bottom ``top`` tokens of every expert unit of one MoE layer (vocabulary in chunks,
    so memory is bounded by units × chunk, not units × vocabulary)."""
    w = expert_output_weights(adapter, layer, fold_final_norm)
    n_experts, d_expert, d_model = w.shape
    found = congruence_extremes(w.reshape(-1, d_model), adapter.w_u, top, chunk_size)

    def shaped(name: str) -> torch.Tensor:
        return found[name].reshape(n_experts, d_expert, -1)

    return ExpertCongruence(
        layer=layer,
        top_ids=shaped("top_ids"),
        top_values=shaped("top_values"),
        bottom_ids=shaped("bottom_ids"),
        bottom_values=shaped("bottom_values"),
    )
