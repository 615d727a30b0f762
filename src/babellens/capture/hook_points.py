"""Named hook points (``resid_pre.3``, ``attn_z.5`` ...) and where each one lives in a model.

A point is a kind and a layer. Each kind says which module to hook (a template of the spec), on
which side (input or output), which element of it carries the tensor, and which tensor axes are
positions and heads, so capture and intervention code never needs to know a family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter import ModelAdapter
from babellens.models.adapters.spec import ArchitectureSpec

__all__ = ["HOOK_KINDS", "HookKind", "HookPoint", "kinds_at_layer", "parse_hook_point"]


@dataclass(frozen=True)
class HookKind:
    """How to reach one kind of activation.

    ``side``: ``input`` reads/writes the first argument of the module (a forward pre-hook),
    ``output`` the module's output (its first element when the module returns a tuple, or
    ``output_index``).
    """

    name: str
    spec_field: str
    side: Literal["input", "output"]
    description: str
    output_index: int = 0
    pos_axis: int = 1
    head_axis: int | None = None
    split_heads: bool = False
    output_field: str | None = None
    """A spec field that, when a family sets it, names a module whose *output* carries the
    same tensor (``mlp_pre`` where the activation module is shared across blocks)."""

    def side_for(self, spec: ArchitectureSpec) -> Literal["input", "output"]:
        """Which side of :meth:`template`'s module carries the tensor in this family."""
        if self.output_field and getattr(spec, self.output_field, None):
            return "output"
        return self.side

    def template(self, spec: ArchitectureSpec) -> str:
        if self.spec_field == "block":
            return spec.blocks + ".{layer}"
        if self.output_field and getattr(spec, self.output_field, None):
            return getattr(spec, self.output_field)
        template = getattr(spec, self.spec_field)
        if template is None:
            raise InvalidInputError(
                f"{self.name} is unavailable: {spec.name} has no {self.spec_field} module"
            )
        return template


HOOK_KINDS: dict[str, HookKind] = {
    kind.name: kind
    for kind in (
        HookKind(
            "resid_pre",
            "block",
            "input",
            "residual stream entering the block [batch, pos, d_model]",
        ),
        HookKind(
            "attn_z",
            "attn_o",
            "input",
            "per-head attention output before the output projection (after an output gate "
            "where the family has one; routed heads: before the router's gate, NaN where the "
            "token was not routed to the head's expert) [batch, pos, head, head_dim]",
            head_axis=2,
            split_heads=True,
        ),
        HookKind(
            "attn_pattern",
            "attn",
            "output",
            "attention probabilities [batch, head, query, key] as the model returns them "
            "(without the sink's share where sinks scale the output: Granite SWA; routed "
            "heads: NaN rows where the query was not routed); runs that capture it use eager "
            "attention",
            output_index=1,
            pos_axis=2,
            head_axis=1,
        ),
        HookKind(
            "attn_router_probs",
            "attn_router",
            "output",
            "routed attention (JetMoE's mixture of attention): the gate each attention expert's "
            "heads get, the softmax over the token's top-k router logits (0 where not routed); "
            "head h * n_experts + e gets expert e's [batch, pos, n_attn_experts]",
        ),
        HookKind(
            "attn_out",
            "attn_output_module",
            "output",
            "attention output after the output projection, before any "
            "post-attention norm [batch, pos, d_model]",
        ),
        HookKind(
            "mlp_in",
            "mlp_input_module",
            "input",
            "MLP input: the residual stream after the pre-MLP norm [batch, pos, d_model] "
            "(what a transcoder reads)",
        ),
        HookKind(
            "mlp_pre",
            "mlp_act",
            "input",
            "MLP pre-activation: the activation function's input "
            "(the gate for gated MLPs) [batch, pos, d_mlp]",
            output_field="mlp_pre_output",
        ),
        HookKind(
            "mlp_post",
            "mlp_out",
            "input",
            "MLP neuron activations: the input of the down/out projection [batch, pos, d_mlp]",
        ),
        HookKind(
            "router_probs",
            "experts",
            "input",
            "mixture-of-experts layers: the routing weight each expert's output gets "
            "(0 where the router did not send the token; JetMoE: the softmax over the "
            "token's top-k logits) [batch, pos, n_experts]",
        ),
        HookKind(
            "expert_post",
            "experts",
            "input",
            "mixture-of-experts layers: each expert's neuron activations, NaN where the router "
            "did not send the token [batch, pos, n_experts, d_expert]",
        ),
        HookKind(
            "shared_pre",
            "shared_act",
            "input",
            "mixture-of-experts layers with a shared expert (an MLP every token goes through "
            "beside the routed experts): its pre-activation, the activation's input (the gate "
            "for gated ones) [batch, pos, d_shared]",
        ),
        HookKind(
            "shared_post",
            "shared_down",
            "input",
            "mixture-of-experts layers with a shared expert: its neuron activations, the input "
            "of its down projection; it writes gate x (post @ W_out_shared), gate = "
            "sigmoid(mlp_in @ W_shared_gate) where the family gates it per token (Qwen2-MoE), "
            "else 1 [batch, pos, d_shared]",
        ),
        HookKind(
            "mlp_out",
            "mlp_output_module",
            "output",
            "MLP output before any post-MLP norm of the block (routed and shared experts "
            "together; AXK1's MoE layers: after the norm their MLP module applies) "
            "[batch, pos, d_model]",
        ),
        HookKind(
            "resid_post",
            "block",
            "output",
            "residual stream leaving the block [batch, pos, d_model]",
        ),
    )
}


@dataclass(frozen=True, order=True)
class HookPoint:
    layer: int
    kind: str

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.layer}"

    @property
    def info(self) -> HookKind:
        return HOOK_KINDS[self.kind]

    def __str__(self) -> str:
        return self.name


def parse_hook_point(name: str | HookPoint, n_layers: int) -> HookPoint:
    """``"mlp_post.3"`` -> ``HookPoint(3, "mlp_post")``, with a helpful error for bad names."""
    if isinstance(name, HookPoint):
        point = name
    else:
        kind, _, layer = str(name).rpartition(".")
        if kind not in HOOK_KINDS or not layer.lstrip("-").isdigit():
            raise InvalidInputError(
                f"unknown hook point {name!r}: use KIND.LAYER with KIND one of {', '.join(HOOK_KINDS)}"
            )
        point = HookPoint(int(layer), kind)
    if not 0 <= point.layer < n_layers:
        raise InvalidInputError(
            f"hook point {point.name!r} is out of range: this model has layers 0..{n_layers - 1}"
        )
    return point


_DENSE_ONLY = ("mlp_pre", "mlp_post")
_MOE_ONLY = ("router_probs", "expert_post")
_ROUTED_ATTENTION_ONLY = ("attn_router_probs",)


def kinds_at_layer(adapter: ModelAdapter, layer: int) -> list[str]:
    """The hook kinds a layer has: expert points on mixture-of-experts layers, neurons elsewhere;
    shared-expert points where the layer has one (``shared_pre`` where its activation is a
    module); attention routing only where heads are routed."""
    skip = _DENSE_ONLY if adapter.is_moe_layer(layer) else _MOE_ONLY
    if adapter.spec.routed_attention is None:
        skip = (*skip, *_ROUTED_ATTENTION_ONLY)
    if not adapter.has_shared_expert(layer):
        skip = (*skip, "shared_pre", "shared_post")
    elif adapter.spec.shared_act is None:
        skip = (*skip, "shared_pre")
    return [kind for kind in HOOK_KINDS if kind not in skip]
