"""Infer an :class:`ArchitectureSpec` from a model's module names, for families not declared.

Most decoder-only transformers differ from each other only in what they call things: the block
list (``model.layers``, ``transformer.h``, ``model.decoder.layers``, ``model.language_model.layers``
inside a multimodal wrapper), the projections (``o_proj``/``dense``/``out_proj``/``c_proj``), the
MLP (``up_proj``/``fc1``/``c_fc``/``dense_h_to_4h``). The inference looks each role up in a short
list of known names and returns a spec; it never guesses a role it cannot find. What it cannot
express (experts, latent attention, state-space blocks) is refused by name in ``registry.py``.
Every architecture in transformers' causal-LM mapping is checked against plain hooks by the sweep
test, so an inferred spec there is a verified one; for other models the spec's notes say
"inferred".
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from babellens.models.adapters.spec import (
    ArchitectureSpec,
    LatentAttention,
    OutputGate,
    QKVLayout,
    SharedExpert,
)

__all__ = ["infer_spec"]

_BLOCK_LISTS = (
    "model.layers",
    "model.language_model.layers",
    "model.text_model.layers",
    "language_model.model.layers",
    "model.language_model.model.layers",
    "model.decoder.layers",
    "transformer.h",
    "transformer.layers",
    "transformer.blocks",
    "gpt_neox.layers",
    "gpt_neox_japanese.layers",
    "biogpt.layers",
    "model.transformer.h",
)
_EMBEDS = ("embed_tokens", "wte", "word_embeddings", "embed_in", "tokens_embed", "w")
_FINAL_NORMS = (
    "norm",
    "ln_f",
    "final_layernorm",
    "final_layer_norm",
    "norm_f",
    "layer_norm",
    "layernorm",
    "final_norm",
)
_UNEMBEDS = ("lm_head", "output_projection", "embed_out")
_ATTNS = (
    "self_attn",
    "attn.attention",
    "attn",
    "attention",
    "self_attention",
    "multi_head_attention",
)
_QKV = (("q_proj", "k_proj", "v_proj"), ("Wq", "Wk", "Wv"), ("query", "key", "value"))
_FUSED_QKV = ("qkv_proj", "c_attn", "query_key_value", "Wqkv", "qkv")
_ATTN_OUTS = ("o_proj", "dense", "out_proj", "c_proj", "wo", "Wo")
_MLPS = ("mlp", "feed_forward", "ffn", "block_sparse_moe")
_MLP_GATES = ("gate_proj", "w1")
_MLP_INS = ("up_proj", "fc1", "fc_in", "c_fc", "dense_h_to_4h", "w3", "Wi")
_MLP_OUTS = ("down_proj", "fc2", "fc_out", "c_proj", "dense_4h_to_h", "w2", "Wo")
_MLP_ACTS = ("act_fn", "act", "activation_fn", "gelu_impl", "act_func", "activation")
_NORMS_BEFORE_ATTN = (
    "input_layernorm",
    "ln_1",
    "norm_1",
    "self_attn_layer_norm",
    "attention_layernorm",
    "attn_norm",
    "layernorm1",
    "ln_attn",
)
_NORMS_BEFORE_MLP = (
    "pre_feedforward_layernorm",
    "ln_2",
    "norm_2",
    "final_layer_norm",
    "feedforward_layernorm",
    "mlp_norm",
    "layernorm2",
    "ln_mlp",
)
_NORMS_AFTER_ATTN = ("post_self_attn_layernorm", "post_attention_norm", "post_norm1")
_NORMS_AFTER_MLP = ("post_feedforward_layernorm", "post_mlp_layernorm", "post_norm2")
_PER_HEAD_QKV = {"gpt_neox", "bloom", "persimmon", "fuyu", "gpt_neox_japanese"}
"""Fused q/k/v laid out per head (``[q|k|v]`` per head) rather than split in three blocks."""
_FLAT_MLP = {"opt", "llama4_text", "llama4"}
"""MLPs that run on flattened ``[batch * pos, d]`` rows."""
_RESIDUAL_INSIDE = {"bloom", "mpt"}
"""Attention and MLP modules that add the residual stream to their own output."""
_LATENT = ("kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj")
"""Multi-latent attention's value path (DeepSeek's names, kept by every MLA family here)."""
_GATES = ("gate_proj", "g_proj", "q_gate_proj")
"""Attention output gates (AFMoE, Beam; Dots3's per-head ``g_proj``; AXK2's fused query/gate).
The sweep checks each head's output against ``sigmoid(gate) * value`` by hand, so a module of
these names that were not an output gate would fail parity, never pass silently."""
_SOFTPLUS_GATES = {"laguna"}
"""Output gates that are ``softplus(x W_G)`` rather than a sigmoid."""
_HEADS_PER_LAYER = ("num_attention_heads_per_layer",)
"""Config attributes listing each layer's query head count (Laguna)."""
_SINKS_SCALE_OUTPUT = {"granite_swa", "granitemoe_swa"}
"""Sinks applied as ``sigmoid(logsumexp - sink)`` on the output, outside the returned pattern."""
_RETURNED_BIAS = {"gpt_neox_japanese": "dense_bias"}
"""Attention that returns its output bias for the block to add (a parameter of the module)."""
_SCALED_EXPERTS = {"llama4_text", "llama4"}
"""Experts fed rows already scaled by the scores of their sibling ``router`` (Llama 4)."""
_SHARED = ("shared_experts", "shared_expert", "shared_mlp")
"""The MLP every token of an MoE layer runs beside its routed experts: inside the MLP module, or
beside it in the block (Granite-MoE-Shared's ``shared_mlp``)."""
_SHARED_FUSED = ("gate_up_proj", "input_linear")
_SHARED_OUTS = (*_MLP_OUTS, "output_linear")
_SHARED_GATES = ("shared_expert_gate",)
"""A ``d_model -> 1`` projection whose sigmoid scales the shared output per token (Qwen2-MoE)."""
_EXPERTS_POST_NORMS = ("post_mlp_layernorm",)
"""A norm inside the MoE module, on routed plus shared output (AXK1)."""
_EXPERTS_SCALED_AFTER = {"minimax_m3_vl_text", "minimax_m3_vl", "beam", "laguna"}
"""MLPs that multiply the experts module's output by their ``routed_scaling_factor``."""
_RESIDUAL_SCALES = ("residual_scale", "residual_multiplier")
"""Block attributes that scale each write before the residual add (MiniCPM3, Granite)."""
_SCALES = {"latent": "kv_lora_scale", "value": "v_scale"}
"""Attention attributes that scale the normed latent (Dots3) or every value (MiMo-V2-Flash)."""


_INFERRED_NOTE = "Inferred from module names (no spec declared for it)."
_MULTIMODAL_NOTE = "Inferred; a multimodal checkpoint: text runs through its language model, images are out of scope."


def _first(names: dict[str, nn.Module], prefix: str, options: tuple[str, ...]) -> str | None:
    return next((f"{prefix}.{o}" for o in options if f"{prefix}.{o}" in names), None)


def _template(path: str | None, block0: str, blocks: str) -> str | None:
    return None if path is None else path.replace(block0, blocks + ".{layer}", 1)


def _norm_roles(names: dict[str, nn.Module], block0: str) -> dict[str, str]:
    """Norm roles by name; Gemma-style ``post_attention_layernorm`` is an output norm only when
    a separate pre-feed-forward norm exists, otherwise it is the norm before the MLP (llama)."""
    roles: dict[str, str | None] = {
        "attn_in": _first(names, block0, _NORMS_BEFORE_ATTN),
        "mlp_in": _first(names, block0, _NORMS_BEFORE_MLP),
        "attn_out": _first(names, block0, _NORMS_AFTER_ATTN),
        "mlp_out": _first(names, block0, _NORMS_AFTER_MLP),
    }
    post_attention = f"{block0}.post_attention_layernorm"
    if post_attention in names:
        role = "attn_out" if roles["mlp_in"] else "mlp_in"
        roles[role] = roles[role] or post_attention
    return {role: path for role, path in roles.items() if path}


def _mlp_blocks(names: dict[str, nn.Module], blocks: str) -> tuple[str, str | None]:
    """(a block with a dense MLP, or block 0 if none; the first block with experts, if any)."""
    n_blocks = len(names[blocks])  # type: ignore[arg-type]
    dense, moe = None, None
    for i in range(n_blocks):
        mlp = _first(names, f"{blocks}.{i}", _MLPS)
        if mlp and f"{mlp}.experts" in names:
            moe = moe or f"{blocks}.{i}"
        else:
            dense = dense or f"{blocks}.{i}"
    return dense or f"{blocks}.0", moe


def _attention_extras(
    names: dict[str, nn.Module], attn: str, model_type: str, t: Callable[[str], str | None]
) -> dict[str, object]:
    """Spec fields of attention variants found by name: latent values, an output gate, sinks
    outside the pattern, a bias returned for the block to add."""
    extras: dict[str, object] = {}
    module = names[attn]
    scales = {k: v if hasattr(module, v) else None for k, v in _SCALES.items()}
    if all(f"{attn}.{part}" in names for part in _LATENT):
        down, norm, up = (t(f"{attn}.{part}") for part in _LATENT)
        extras["latent"] = LatentAttention(down, norm, up, scales["latent"])  # type: ignore[arg-type]
    extras["value_scale"] = scales["value"]
    gate = _first(names, attn, _GATES)
    if gate is not None:
        bias = "gate_bias" if isinstance(getattr(module, "gate_bias", None), nn.Parameter) else None
        act = "softplus" if model_type in _SOFTPLUS_GATES else "sigmoid"
        extras["gate"] = OutputGate(proj=t(gate), bias=bias, activation=act)  # type: ignore[arg-type]
    extras["sinks_scale_output"] = model_type in _SINKS_SCALE_OUTPUT
    extras["attn_returned_bias"] = _RETURNED_BIAS.get(model_type)
    return extras


def _shared_expert(
    names: dict[str, nn.Module], moe_block: str | None, t: Callable[[str], str | None]
) -> SharedExpert | None:
    """The shared expert of the first MoE block, found by name inside its MLP module or beside
    it; ``None`` when there is none (or its parts have no known name: then ``mlp_out`` is not
    the routed experts' output alone, and the sweep's parity check says so)."""
    mlp = _first(names, moe_block, _MLPS) if moe_block else None
    if mlp is None:
        return None
    module, beside = _first(names, mlp, _SHARED), False
    if module is None:
        module, beside = _first(names, moe_block, _SHARED), True  # type: ignore[arg-type]
    if module is None:
        return None
    up = _first(names, module, _MLP_INS)
    w_in = up or _first(names, module, _SHARED_FUSED)
    w_out = _first(names, module, _SHARED_OUTS)
    if w_in is None or w_out is None:
        return None
    return SharedExpert(
        module=t(module),  # type: ignore[arg-type]
        w_in=t(w_in),  # type: ignore[arg-type]
        w_out=t(w_out),  # type: ignore[arg-type]
        w_gate=t(_first(names, module, _MLP_GATES)) if up else None,
        gate_up_fused=up is None,
        act=t(_first(names, module, _MLP_ACTS)),
        output_gate=t(_first(names, mlp, _SHARED_GATES)),
        beside_mlp=beside,
    )


def _find_blocks(names: dict[str, nn.Module]) -> str | None:
    for path in _BLOCK_LISTS:
        blocks = names.get(path)
        if isinstance(blocks, nn.ModuleList) and len(blocks) and f"{path}.0" in names:
            return path
    return None


def _heads_per_layer(model: nn.Module, n_layers: int) -> str | None:
    """The config attribute listing each layer's query heads, if the config has one that
    lists every block."""
    config = getattr(model, "config", None)
    get_text = getattr(config, "get_text_config", None)
    config = get_text() if callable(get_text) else config
    listed = (n for n in _HEADS_PER_LAYER if isinstance(getattr(config, n, None), list))
    return next((n for n in listed if len(getattr(config, n)) == n_layers), None)


def infer_spec(model: nn.Module, model_type: str) -> ArchitectureSpec | None:
    """A spec built from module names, or ``None`` when a required role has no known name."""
    names = dict(model.named_modules())
    blocks = _find_blocks(names)
    if blocks is None:
        return None
    block0, decoder = f"{blocks}.0", blocks.rpartition(".")[0]
    attn = _first(names, block0, _ATTNS)
    if attn is None:
        return None
    qkv = next((t for t in _QKV if all(f"{attn}.{p}" in names for p in t)), None)
    fused_qkv = None if qkv else _first(names, attn, _FUSED_QKV)
    attn_o = _first(names, attn, _ATTN_OUTS)
    dense_block, moe_block = _mlp_blocks(names, blocks)
    mlp = _first(names, dense_block, _MLPS)
    mlp_root = mlp or dense_block
    mlp_in = _first(names, mlp_root, _MLP_INS)
    gate_up = f"{mlp_root}.gate_up_proj" if f"{mlp_root}.gate_up_proj" in names else None
    mlp_gate = _first(names, mlp_root, _MLP_GATES) if mlp_in else None
    mlp_out = _first(names, mlp_root, _MLP_OUTS)
    mlp_act = _first(names, mlp_root, _MLP_ACTS)
    embed = _first(names, decoder, _EMBEDS)
    final_norm = _first(names, decoder, _FINAL_NORMS)
    unembed = next((u for u in _UNEMBEDS if isinstance(names.get(u), nn.Linear)), None)
    experts = f"{_first(names, moe_block, _MLPS)}.experts" if moe_block else None
    if experts and dense_block == moe_block:  # every layer routes: the dense roles are the experts'
        mlp_in = mlp_out = mlp_act = experts
    parts = (attn_o, mlp_in or gate_up, mlp_out, mlp_act, embed, final_norm, unembed)
    latent = all(f"{attn}.{part}" in names for part in _LATENT)
    if (qkv is None and fused_qkv is None and not latent) or any(p is None for p in parts):
        return None

    def t(path: str | None) -> str | None:
        for prefix in (block0, dense_block, moe_block):
            if path and prefix and path.startswith(prefix + "."):
                return _template(path, prefix, blocks)
        return path

    moe_mlp = _first(names, moe_block, _MLPS) if moe_block else None
    router = f"{moe_mlp}.router" if moe_mlp else None
    scale = next(
        (n for n in _RESIDUAL_SCALES if isinstance(getattr(names[block0], n, None), float)), None
    )

    norms = {role: t(path) for role, path in _norm_roles(names, block0).items()}
    parallel = "mlp_in" not in norms
    if parallel and "attn_in" in norms:  # one shared norm feeds attention and the MLP
        norms["mlp_in"] = norms["attn_in"]
    layout: QKVLayout = "per_head" if model_type in _PER_HEAD_QKV else "split"
    return ArchitectureSpec(
        name=f"inferred ({model_type})",
        model_types=(model_type,),
        decoder=decoder,
        embed=embed,  # type: ignore[arg-type]
        blocks=blocks,
        attn=t(attn),  # type: ignore[arg-type]
        attn_q=t(f"{attn}.{qkv[0]}") if qkv else None,
        attn_k=t(f"{attn}.{qkv[1]}") if qkv else None,
        attn_v=t(f"{attn}.{qkv[2]}") if qkv else None,
        attn_qkv=t(fused_qkv),
        qkv_layout=layout,
        attn_o=t(attn_o),  # type: ignore[arg-type]
        mlp=t(mlp) if mlp else t(mlp_in),  # type: ignore[arg-type]
        mlp_reads=None if mlp else t(mlp_in),
        attn_writes=t(attn_o) if model_type in _RESIDUAL_INSIDE else None,
        flat_mlp=model_type in _FLAT_MLP,
        mlp_writes=t(mlp_out) if model_type in _RESIDUAL_INSIDE or not mlp else None,
        mlp_gate=None if mlp_in == experts else t(mlp_gate),
        experts=t(experts),
        experts_router=t(router) if model_type in _SCALED_EXPERTS else None,
        experts_scale="routed_scaling_factor" if model_type in _EXPERTS_SCALED_AFTER else None,
        shared_expert=_shared_expert(names, moe_block, t),
        experts_post_norm=t(_first(names, moe_mlp, _EXPERTS_POST_NORMS)) if moe_mlp else None,
        residual_scale=scale,
        heads_per_layer=_heads_per_layer(model, len(names[blocks])),  # type: ignore[arg-type]
        **_attention_extras(names, attn, model_type, t),  # type: ignore[arg-type]
        gate_up_fused=gate_up is not None and mlp_in is None,
        mlp_in=t(mlp_in or gate_up),  # type: ignore[arg-type]
        mlp_act=t(mlp_act),  # type: ignore[arg-type]
        mlp_out=t(mlp_out),  # type: ignore[arg-type]
        norms=norms,  # type: ignore[arg-type]
        final_norm=final_norm,  # type: ignore[arg-type]
        unembed=unembed,
        conv1d=any(type(m).__name__ == "Conv1D" for m in names.values()),
        parallel_residual=parallel,
        notes=_MULTIMODAL_NOTE if "language_model" in blocks else _INFERRED_NOTE,
    )
