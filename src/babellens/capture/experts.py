"""Mixture-of-experts hook points: routing weights per token and expert neuron activations.

transformers' expert modules take ``(hidden_states [tokens, d_model], top_k_index [tokens, k],
top_k_weights [tokens, k])``. A pre-hook on that module sees exactly what the router decided, and
the expert neurons are computed from the module's own weights for the routed (token, expert)
pairs only: ``act(x W_gate_e) * (x W_up_e)``. A token the router did not send to an expert has
no activation there, which is not zero: those entries are NaN. The parity test checks that
``sum_e weight_e * (post_e @ W_out_e)`` equals the experts module's output. Experts that their
own module runs on rows sorted by expert (JetMoE) have no such call: their routing is read from
the router's output instead (:mod:`babellens.capture.routed`), and the neurons are computed here.
"""

from __future__ import annotations

import torch

from babellens.models.adapters.expert_layout import ExpertsLayout

__all__ = ["MOE_KINDS", "expert_activations", "routing_weights", "scaled_expert_activations"]

MOE_KINDS = ("router_probs", "expert_post")


def routing_weights(index: torch.Tensor, weights: torch.Tensor, n_experts: int) -> torch.Tensor:
    """``[tokens, n_experts]``: the weight each expert's output gets (0 where not routed)."""
    dense = torch.zeros(index.shape[0], n_experts + 1, dtype=weights.dtype, device=weights.device)
    dense.scatter_add_(1, index.long(), weights)
    return dense[:, :n_experts]


def expert_activations(
    experts: torch.nn.Module, x: torch.Tensor, index: torch.Tensor, layout: ExpertsLayout
) -> torch.Tensor:
    """``[tokens, n_experts, d_expert]`` neuron activations, NaN where the token was not routed.

    The weights are read in the layout the module declares (transposed, interleaved, biased:
    :mod:`babellens.models.adapters.expert_layout`) and the activation is the module's own
    ``_apply_gate`` where it has one, so every layout computes what the model does.
    """
    gate_up = layout.stored_gate_up(experts)  # [E, 2 * d_expert, d_model], or its transpose
    n_experts, d_expert = gate_up.shape[0], layout.down(experts).shape[1]
    out = torch.full(
        (x.shape[0], n_experts, d_expert), float("nan"), dtype=x.dtype, device=x.device
    )
    for expert in index.unique().tolist():
        if not 0 <= expert < n_experts:  # some routers mark dropped slots with n_experts
            continue
        tokens = (index == expert).any(dim=-1).nonzero().squeeze(-1)
        out[tokens, expert] = _neurons(experts, layout, x[tokens], expert)
    return out


def scaled_expert_activations(
    experts: torch.nn.Module, rows: torch.Tensor, scores: torch.Tensor, layout: ExpertsLayout
) -> torch.Tensor:
    """``[tokens, n_experts, d_expert]`` for experts fed pre-scaled rows (Llama 4).

    ``rows`` is what the experts module receives, ``[n_experts * tokens, d_model]``: expert e's
    block holds every token times its router score for e (0 where not routed). A neuron's
    activation is computed from that scaled row, as the model does; NaN where not routed.
    """
    n_tokens, n_experts = scores.shape
    blocks = rows.view(n_experts, n_tokens, rows.shape[-1])
    d_expert = layout.down(experts).shape[1]
    out = torch.full(
        (n_tokens, n_experts, d_expert), float("nan"), dtype=rows.dtype, device=rows.device
    )
    for expert in range(n_experts):
        tokens = (scores[:, expert] != 0).nonzero().squeeze(-1)
        if tokens.numel():
            out[tokens, expert] = _neurons(experts, layout, blocks[expert, tokens], expert)
    return out


def _neurons(
    experts: torch.nn.Module, layout: ExpertsLayout, x: torch.Tensor, expert: int
) -> torch.Tensor:
    weight = layout.stored_gate_up(experts)[expert]
    projected = x @ weight if layout.transposed else torch.nn.functional.linear(x, weight)
    if layout.bias:
        projected = projected + experts.gate_up_proj_bias[expert]
    if hasattr(experts, "_apply_gate"):  # transformers' gate: its default is act_fn(gate) * up
        return experts._apply_gate(projected)
    gate, up = projected.chunk(2, dim=-1)
    return getattr(experts, layout.activation)(gate) * up
