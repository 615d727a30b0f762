"""Specs of families whose experts run inside their own modules, on rows sorted by expert:
JetMoE, with mixture-of-experts MLPs and attention heads routed as experts (mixture of
attention). Registered beside ``FAMILIES`` (whose every member has a tiny-model test in
``tests/tiny_models.py``) and verified by the architecture sweep, ``tests/capture/test_routed.py``
and ``tests/models/test_routed_attention.py``.
"""

from __future__ import annotations

from babellens.models.adapters.spec import ArchitectureSpec, RoutedAttention, SortedExperts

__all__ = ["ROUTED_FAMILIES"]

_L = "model.layers.{layer}"

_JETMOE = ArchitectureSpec(
    name="jetmoe",
    model_types=("jetmoe",),
    decoder="model",
    embed="model.embed_tokens",
    blocks="model.layers",
    attn=f"{_L}.self_attention",
    attn_o=f"{_L}.self_attention.experts.output_linear",
    routed_attention=RoutedAttention(
        experts=f"{_L}.self_attention.experts", kv=f"{_L}.self_attention.kv_proj"
    ),
    mlp=f"{_L}.mlp",
    mlp_in=f"{_L}.mlp.input_linear",
    mlp_act=f"{_L}.mlp.activation",
    mlp_out=f"{_L}.mlp.output_linear",
    experts=f"{_L}.mlp",
    sorted_experts=SortedExperts(),
    norms={"attn_in": f"{_L}.input_layernorm", "mlp_in": f"{_L}.post_attention_layernorm"},
    final_norm="model.norm",
    unembed="lm_head",
    notes=(
        "JetMoE: MLP experts and attention experts (mixture of attention) that their modules run "
        "themselves; heads are (kv head, expert) pairs, NaN where a token was not routed."
    ),
)

ROUTED_FAMILIES: tuple[ArchitectureSpec, ...] = (_JETMOE,)
