"""Hook points of experts that their own module runs on rows sorted by expert (JetMoE).

JetMoE has no ``experts(x, top_k_index, top_k_weights)`` call: its MLP and its attention each
call a router that returns the top-k choice grouped by expert, ``(index_sorted_experts,
batch_index, batch_gates, expert_size, logits)``, then run every expert on its block of rows.
A forward hook on the router reads that choice back into per-token ``[tokens, k]`` experts and
gates (:func:`read_router`), from which

* ``router_probs`` / ``attn_router_probs`` are the gates as the model applies them (the softmax
  over the token's chosen top-k logits; 0 where not routed), and ``expert_post`` the neurons
  computed by :func:`~babellens.capture.experts.expert_activations`;
* routed attention heads, one per (kv head h, expert e) numbered ``h * n_experts + e``, are
  read at the expert output projection's input (``attn_z``: its rows, sorted by expert, hold
  each routed token's per-head outputs, before the gate) and from the returned pattern, whose
  heads are the token's top-k *slots* (``attn_pattern``). A head that the token was not routed
  to has no output there: NaN, as ``expert_post`` is for neurons. Edits to ``attn_z`` reach the
  model through the same rows; an edit of a head where it does not exist is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from babellens.capture.experts import expert_activations, routing_weights
from babellens.capture.hook_points import HookPoint
from babellens.capture.interventions import Intervention
from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter import ModelAdapter

__all__ = ["ROUTED_ATTENTION_KINDS", "RouterChoice", "install_routed", "read_router"]

ROUTED_ATTENTION_KINDS = ("attn_z", "attn_pattern", "attn_router_probs")
Keep = Callable[[HookPoint, torch.Tensor], None]


@dataclass(frozen=True)
class RouterChoice:
    """One router's decision in one forward pass."""

    index: torch.Tensor
    """``[tokens, k]``: the expert of each of a token's top-k slots."""
    weights: torch.Tensor
    """``[tokens, k]``: each slot's gate."""
    row_tokens: torch.Tensor
    """``[tokens * k]``: the token of each row the experts see (rows sorted by expert)."""
    row_experts: torch.Tensor
    """``[tokens * k]``: the expert of each of those rows."""
    n_experts: int

    @property
    def dense(self) -> torch.Tensor:
        """``[tokens, n_experts]``: the gate each expert's output gets, 0 where not routed."""
        return routing_weights(self.index, self.weights, self.n_experts)


def read_router(output: tuple, n_tokens: int) -> RouterChoice:
    """The per-token choice behind a sorted router's output (row i of the sorted order is
    flat slot ``index_sorted[i]`` = token * k + slot, of the i-th expert in ``expert_size``)."""
    index_sorted, batch_index, batch_gates, expert_size = output[:4]
    sizes = torch.as_tensor(expert_size, device=index_sorted.device)
    row_experts = torch.repeat_interleave(
        torch.arange(len(expert_size), device=sizes.device), sizes
    )
    index, weights = torch.empty_like(index_sorted), torch.empty_like(batch_gates)
    index[index_sorted], weights[index_sorted] = row_experts, batch_gates
    k = index_sorted.numel() // n_tokens
    return RouterChoice(
        index.view(n_tokens, k), weights.view(n_tokens, k), batch_index, row_experts, len(sizes)
    )


def _rows_to_heads(rows: torch.Tensor, choice: RouterChoice, n_kv: int) -> torch.Tensor:
    """``[tokens, n_kv * E, hd]`` from the sorted rows ``[tokens * k, n_kv * hd]``."""
    n_tokens = choice.index.shape[0]
    hd = rows.shape[-1] // n_kv
    heads = rows.new_full((n_tokens, n_kv, choice.n_experts, hd), float("nan"))
    heads[choice.row_tokens, :, choice.row_experts] = rows.view(-1, n_kv, hd)
    return heads.view(n_tokens, -1, hd)


def _heads_to_rows(heads: torch.Tensor, choice: RouterChoice, n_kv: int) -> torch.Tensor:
    grid = heads.reshape(choice.index.shape[0], n_kv, choice.n_experts, heads.shape[-1])
    return grid[choice.row_tokens, :, choice.row_experts].reshape(choice.row_tokens.shape[0], -1)


def _slots_to_heads(pattern: torch.Tensor, choice: RouterChoice) -> torch.Tensor:
    """``[batch, n_kv * E, query, key]`` from the pattern of each query's top-k slots
    ``[batch, k * n_kv, query, key]`` (slot s, kv head h at ``s * n_kv + h``)."""
    batch, slot_heads, queries, keys = pattern.shape
    k = choice.index.shape[1]
    n_kv = slot_heads // k
    slots = pattern.view(batch, k, n_kv, queries, keys).permute(0, 3, 1, 2, 4)
    heads = pattern.new_full((batch, queries, choice.n_experts, n_kv, keys), float("nan"))
    where = choice.index.view(batch, queries, k, 1, 1).expand(-1, -1, -1, n_kv, keys)
    heads.scatter_(2, where, slots.contiguous())
    return heads.permute(0, 3, 2, 1, 4).reshape(batch, n_kv * choice.n_experts, queries, keys)


def install_routed(
    adapter: ModelAdapter,
    point: HookPoint,
    edits: list[Intervention],
    keep: Keep | None,
) -> list[RemovableHandle]:
    """The hooks of one point of sorted experts (``router_probs``, ``expert_post``) or of routed
    attention (``attn_z``, ``attn_pattern``, ``attn_router_probs``). ``keep`` stores a captured
    value (``None``: the point is only edited)."""
    if edits and point.kind != "attn_z":
        raise InvalidInputError(f"{point} can be captured, not intervened on")
    if point.kind in ("router_probs", "expert_post"):
        return _experts_hooks(adapter, point, keep)  # type: ignore[arg-type]
    return _attention_hooks(adapter, point, edits, keep)


def _shape_recorder(shape: list[torch.Size]) -> Callable[..., None]:
    def record(_m: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        x = args[0] if args else kwargs["hidden_states"]
        shape[:] = [x.shape[:-1]]

    return record


def _experts_hooks(adapter: ModelAdapter, point: HookPoint, keep: Keep) -> list[RemovableHandle]:
    layer = point.layer
    experts, layout = adapter.experts(layer), adapter.experts_layout(layer)
    router = adapter.module(adapter.spec.sorted_router, layer)  # type: ignore[arg-type]
    shape: list[torch.Size] = []

    def router_hook(_m: torch.nn.Module, args: tuple, output: Any) -> None:
        x = args[0]
        choice = read_router(output, x.shape[0])
        if point.kind == "router_probs":
            value = choice.dense
        else:
            value = expert_activations(experts, x, choice.index, layout)
        keep(point, value.reshape(*shape[0], *value.shape[1:]))

    block = adapter.module(adapter.spec.mlp, layer)
    return [
        block.register_forward_pre_hook(_shape_recorder(shape), with_kwargs=True),
        router.register_forward_hook(router_hook),
    ]


def _attention_hooks(
    adapter: ModelAdapter, point: HookPoint, edits: list[Intervention], keep: Keep | None
) -> list[RemovableHandle]:
    layer, n_kv = point.layer, adapter.n_kv_heads
    shape: list[torch.Size] = []
    choices: list[RouterChoice] = []

    def router_hook(_m: torch.nn.Module, args: tuple, output: Any) -> None:
        choices[:] = [read_router(output, args[0].shape[0])]
        if point.kind == "attn_router_probs":
            keep(point, choices[0].dense.reshape(*shape[0], -1))  # type: ignore[misc]

    def pattern_hook(_m: torch.nn.Module, _args: tuple, output: Any) -> None:
        if output[1] is None:
            raise InvalidInputError(f"{point} is unavailable: capture it with eager attention")
        keep(point, _slots_to_heads(output[1], choices[0]))  # type: ignore[misc]

    def z_hook(_m: torch.nn.Module, args: tuple) -> Any:
        heads = _rows_to_heads(args[0], choices[0], n_kv)
        view = heads.view(*shape[0], *heads.shape[1:])
        edited = view
        for edit in edits:
            edited = edit.apply(edited, point.kind)
        rows = _heads_to_rows(edited, choices[0], n_kv) if edits else args[0]
        if keep is not None:  # what flows on: an edit where a head does not exist is dropped
            kept = _rows_to_heads(rows, choices[0], n_kv) if edits else view
            keep(point, kept.view(view.shape))
        return (rows, *args[1:]) if edits else None

    attn = adapter.module(adapter.spec.attn, layer)
    router = adapter.module(adapter.spec.attn_router, layer)  # type: ignore[arg-type]
    handles = [
        attn.register_forward_pre_hook(_shape_recorder(shape), with_kwargs=True),
        router.register_forward_hook(router_hook),
    ]
    if point.kind == "attn_pattern":
        handles.append(attn.register_forward_hook(pattern_hook))
    elif point.kind == "attn_z":
        w_out = adapter.module(adapter.spec.attn_o, layer)
        handles.append(w_out.register_forward_pre_hook(z_hook))
    return handles
