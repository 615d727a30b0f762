"""One spec per supported model family, keyed by Hugging Face ``config.model_type``.

Llama-shaped families (llama, mistral, qwen2, qwen3, gemma) differ only in names of norms and in
details that do not move modules; GPT-2, GPT-NeoX and Phi-3 are spelled out in full.
"""

from __future__ import annotations

from dataclasses import replace

from babellens.models.adapters.spec import ArchitectureSpec

__all__ = ["FAMILIES", "llama_like"]

_L = "model.layers.{layer}"


def llama_like(name: str, model_types: tuple[str, ...], **overrides: object) -> ArchitectureSpec:
    """The llama layout: ``model.layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj}``."""
    spec = ArchitectureSpec(
        name=name,
        model_types=model_types,
        decoder="model",
        embed="model.embed_tokens",
        blocks="model.layers",
        attn=f"{_L}.self_attn",
        attn_q=f"{_L}.self_attn.q_proj",
        attn_k=f"{_L}.self_attn.k_proj",
        attn_v=f"{_L}.self_attn.v_proj",
        attn_o=f"{_L}.self_attn.o_proj",
        mlp=f"{_L}.mlp",
        mlp_gate=f"{_L}.mlp.gate_proj",
        mlp_in=f"{_L}.mlp.up_proj",
        mlp_act=f"{_L}.mlp.act_fn",
        mlp_out=f"{_L}.mlp.down_proj",
        norms={"attn_in": f"{_L}.input_layernorm", "mlp_in": f"{_L}.post_attention_layernorm"},
        final_norm="model.norm",
        unembed="lm_head",
    )
    return replace(spec, **overrides)  # type: ignore[arg-type]


_GEMMA_NORMS = {
    "attn_in": f"{_L}.input_layernorm",
    "attn_out": f"{_L}.post_attention_layernorm",
    "mlp_in": f"{_L}.pre_feedforward_layernorm",
    "mlp_out": f"{_L}.post_feedforward_layernorm",
}

_GPT2 = ArchitectureSpec(
    name="gpt2",
    model_types=("gpt2",),
    decoder="transformer",
    embed="transformer.wte",
    pos_embed="transformer.wpe",
    blocks="transformer.h",
    attn="transformer.h.{layer}.attn",
    attn_qkv="transformer.h.{layer}.attn.c_attn",
    qkv_layout="split",
    attn_o="transformer.h.{layer}.attn.c_proj",
    mlp="transformer.h.{layer}.mlp",
    mlp_in="transformer.h.{layer}.mlp.c_fc",
    mlp_act="transformer.h.{layer}.mlp.act",
    mlp_out="transformer.h.{layer}.mlp.c_proj",
    norms={"attn_in": "transformer.h.{layer}.ln_1", "mlp_in": "transformer.h.{layer}.ln_2"},
    final_norm="transformer.ln_f",
    unembed="lm_head",
    conv1d=True,
)

_NEOX = "gpt_neox.layers.{layer}"
_GPT_NEOX = ArchitectureSpec(
    name="gpt_neox",
    model_types=("gpt_neox",),
    decoder="gpt_neox",
    embed="gpt_neox.embed_in",
    blocks="gpt_neox.layers",
    attn=f"{_NEOX}.attention",
    attn_qkv=f"{_NEOX}.attention.query_key_value",
    qkv_layout="per_head",
    attn_o=f"{_NEOX}.attention.dense",
    mlp=f"{_NEOX}.mlp",
    mlp_in=f"{_NEOX}.mlp.dense_h_to_4h",
    mlp_act=f"{_NEOX}.mlp.act",
    mlp_out=f"{_NEOX}.mlp.dense_4h_to_h",
    norms={"attn_in": f"{_NEOX}.input_layernorm", "mlp_in": f"{_NEOX}.post_attention_layernorm"},
    final_norm="gpt_neox.final_layer_norm",
    unembed="lm_head",
    parallel_residual=True,
    notes="Pythia and GPT-NeoX; parallel residual when config.use_parallel_residual.",
)

FAMILIES: tuple[ArchitectureSpec, ...] = (
    llama_like("llama", ("llama",), notes="Llama 2/3, SmolLM, TinyLlama."),
    llama_like("mistral", ("mistral",)),
    llama_like("qwen2", ("qwen2",), notes="Qwen2 and Qwen2.5 (q/k/v carry biases)."),
    llama_like("qwen3", ("qwen3",), notes="Qwen3 (per-head q/k norms inside attention)."),
    llama_like(
        "gemma2",
        ("gemma2",),
        norms=_GEMMA_NORMS,
        notes="Embeddings scaled by sqrt(d_model); final logits soft-capped; 4 norms per block.",
    ),
    llama_like(
        "gemma3",
        ("gemma3_text",),
        norms=_GEMMA_NORMS,
        notes="Gemma 3 text models; embeddings scaled by sqrt(d_model); 4 norms per block.",
    ),
    llama_like(
        "phi3",
        ("phi3",),
        attn_q=None,
        attn_k=None,
        attn_v=None,
        attn_qkv=f"{_L}.self_attn.qkv_proj",
        qkv_layout="split",
        mlp_gate=None,
        gate_up_fused=True,
        mlp_in=f"{_L}.mlp.gate_up_proj",
        mlp_act=f"{_L}.mlp.activation_fn",
        notes="Fused qkv_proj and gate_up_proj (gate first).",
    ),
    _GPT2,
    _GPT_NEOX,
)
