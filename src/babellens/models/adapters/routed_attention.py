"""Weights of routed attention heads (JetMoE's mixture of attention), one head per (kv, expert).

Each attention expert e stores W_Q for all ``n_kv`` heads (``w_in.weight[e]``,
``[n_kv * hd, d_model]``) and W_O (``w_out.weight[e]``, ``[d_model, n_kv * hd]``); K and V come
from one shared projection ``[K | V]``. Head ``j = h * n_experts + e`` is kv head h of expert e,
so head j reads kv head ``j // n_experts``: the grouped-KV rule every analysis already uses,
with ``n_experts`` query heads per kv head. The weights below are exact per head; what is not
fixed is *which* heads a token has (its router's top-k experts) and the gate on their outputs,
which the ``attn_router_probs`` hook point gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # the adapter imports this module
    from babellens.models.adapters.adapter import ModelAdapter

__all__ = ["routed_b_o", "routed_head_dim", "routed_n_heads", "routed_qkv", "routed_w_o"]


def _experts(adapter: ModelAdapter, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_Q stored ``[E, n_kv * hd, d_model]``, W_O stored ``[E, d_model, n_kv * hd]``)."""
    routed = adapter.spec.routed_attention
    owner = adapter.module(routed.experts, layer)  # type: ignore[union-attr]
    layout = routed.layout  # type: ignore[union-attr]
    return getattr(owner, layout.w_in).weight, getattr(owner, layout.w_out).weight


def routed_n_heads(adapter: ModelAdapter) -> int:
    """``n_kv * n_experts``: every head any token may have."""
    return int(_experts(adapter, 0)[0].shape[0]) * adapter.n_kv_heads


def routed_head_dim(adapter: ModelAdapter) -> int:
    return int(_experts(adapter, 0)[1].shape[2] // adapter.n_kv_heads)


def routed_qkv(adapter: ModelAdapter, layer: int, bias: bool) -> list[torch.Tensor | None]:
    """(Q ``[d_model, n_heads * hd]`` in head order, K and V ``[d_model, n_kv * hd]``); none of
    JetMoE's projections has a bias."""
    if bias:
        return [None, None, None]
    w_q, _ = _experts(adapter, layer)
    n_experts, width, d_model = w_q.shape
    kv, hd = adapter.n_kv_heads, width // adapter.n_kv_heads
    queries = w_q.reshape(n_experts, kv, hd, d_model).permute(3, 1, 0, 2)  # [d, kv, E, hd]
    kv_proj = adapter.module(adapter.spec.routed_attention.kv, layer)  # type: ignore[union-attr]
    keys, values = kv_proj.weight.T.chunk(2, dim=1)
    return [queries.reshape(d_model, -1), keys, values]


def routed_w_o(adapter: ModelAdapter, layer: int) -> torch.Tensor:
    """``[n_heads, hd, d_model]``: head ``h * n_experts + e`` is expert e's columns of kv head h."""
    _, w_o = _experts(adapter, layer)
    n_experts, d_model, width = w_o.shape
    kv = adapter.n_kv_heads
    per_head = w_o.reshape(n_experts, d_model, kv, width // kv).permute(2, 0, 3, 1)
    return per_head.reshape(kv * n_experts, width // kv, d_model)


def routed_b_o(adapter: ModelAdapter, layer: int) -> torch.Tensor:
    """``[d_model]``: the bias added once after the gate-weighted sum of the routed heads."""
    routed = adapter.spec.routed_attention
    owner = adapter.module(routed.experts, layer)  # type: ignore[union-attr]
    return getattr(owner, routed.layout.bias)  # type: ignore[union-attr]
