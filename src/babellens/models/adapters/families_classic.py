"""Specs of classic layouts the llama-shaped inference cannot name: post-norm blocks without a
final norm (GPT-1, TrOCR's decoder), a ``Sequential`` feed-forward (CTRL), and CodeGen's q/k/v
projection fused across four model-parallel shards. They are registered beside ``FAMILIES``
(whose every member has a tiny-model test in ``tests/tiny_models.py``) and verified by the
architecture sweep and ``tests/models/test_classic_families.py``.

Post-norm blocks apply their norms to the residual stream after each add, so these specs declare
no norm roles: ``attn_in``/``mlp_in`` mean "the norm right before attention / the MLP reads the
residual stream", which a post-norm block does not have. Every hook point is still what it says
(``mlp_in`` is the MLP module's own input, which here is the previous norm's output).
"""

from __future__ import annotations

from babellens.models.adapters.spec import ArchitectureSpec

__all__ = ["CLASSIC_FAMILIES"]

_GPT1 = "transformer.h.{layer}"
_OPENAI_GPT = ArchitectureSpec(
    name="openai-gpt",
    model_types=("openai-gpt",),
    decoder="transformer",
    embed="transformer.tokens_embed",
    pos_embed="transformer.positions_embed",
    blocks="transformer.h",
    attn=f"{_GPT1}.attn",
    attn_qkv=f"{_GPT1}.attn.c_attn",
    attn_o=f"{_GPT1}.attn.c_proj",
    mlp=f"{_GPT1}.mlp",
    mlp_in=f"{_GPT1}.mlp.c_fc",
    mlp_act=f"{_GPT1}.mlp.act",
    mlp_pre_output=f"{_GPT1}.mlp.c_fc",
    mlp_out=f"{_GPT1}.mlp.c_proj",
    final_norm=None,
    unembed="lm_head",
    conv1d=True,
    notes="GPT-1: post-norm blocks (ln_1 after attention's add, ln_2 after the MLP's), no final "
    "norm; one activation module shared by every block, so mlp_pre is read at c_fc's output.",
)

_TROCR = "model.decoder.layers.{layer}"
_TROCR_SPEC = ArchitectureSpec(
    name="trocr",
    model_types=("trocr",),
    decoder="model.decoder",
    embed="model.decoder.embed_tokens",
    pos_embed="model.decoder.embed_positions",
    blocks="model.decoder.layers",
    attn=f"{_TROCR}.self_attn",
    attn_q=f"{_TROCR}.self_attn.q_proj",
    attn_k=f"{_TROCR}.self_attn.k_proj",
    attn_v=f"{_TROCR}.self_attn.v_proj",
    attn_o=f"{_TROCR}.self_attn.out_proj",
    mlp=f"{_TROCR}.fc1",
    mlp_reads=f"{_TROCR}.fc1",
    mlp_in=f"{_TROCR}.fc1",
    mlp_act=f"{_TROCR}.activation_fn",
    mlp_out=f"{_TROCR}.fc2",
    mlp_writes=f"{_TROCR}.fc2",
    final_norm=None,
    unembed="output_projection",
    notes="TrOCR's text decoder run alone (no image encoder: its cross-attention is skipped); "
    "post-norm blocks, no final norm.",
)

_CTRL = "transformer.h.{layer}"
_CTRL_SPEC = ArchitectureSpec(
    name="ctrl",
    model_types=("ctrl",),
    decoder="transformer",
    embed="transformer.w",
    blocks="transformer.h",
    attn=f"{_CTRL}.multi_head_attention",
    attn_q=f"{_CTRL}.multi_head_attention.Wq",
    attn_k=f"{_CTRL}.multi_head_attention.Wk",
    attn_v=f"{_CTRL}.multi_head_attention.Wv",
    attn_o=f"{_CTRL}.multi_head_attention.dense",
    mlp=f"{_CTRL}.ffn",
    mlp_in=f"{_CTRL}.ffn.0",
    mlp_act=f"{_CTRL}.ffn.1",
    mlp_out=f"{_CTRL}.ffn.2",
    norms={"attn_in": f"{_CTRL}.layernorm1", "mlp_in": f"{_CTRL}.layernorm2"},
    final_norm="transformer.layernorm",
    unembed="lm_head",
    notes="CTRL: embeddings scaled by sqrt(d_model) plus sinusoidal positions; "
    "the feed-forward is a Sequential (Linear, ReLU, Linear).",
)

_CODEGEN = "transformer.h.{layer}"
_CODEGEN_SPEC = ArchitectureSpec(
    name="codegen",
    model_types=("codegen",),
    decoder="transformer",
    embed="transformer.wte",
    blocks="transformer.h",
    attn=f"{_CODEGEN}.attn",
    attn_qkv=f"{_CODEGEN}.attn.qkv_proj",
    qkv_groups=4,
    qkv_order="qvk",
    attn_o=f"{_CODEGEN}.attn.out_proj",
    mlp=f"{_CODEGEN}.mlp",
    mlp_in=f"{_CODEGEN}.mlp.fc_in",
    mlp_act=f"{_CODEGEN}.mlp.act",
    mlp_out=f"{_CODEGEN}.mlp.fc_out",
    norms={"attn_in": f"{_CODEGEN}.ln_1", "mlp_in": f"{_CODEGEN}.ln_1"},
    final_norm="transformer.ln_f",
    unembed="lm_head",
    parallel_residual=True,
    notes="CodeGen: parallel attention and MLP on one norm; qkv_proj fused across the 4 "
    "model-parallel shards it was trained with, each [q | v | k].",
)

_GIT = "git.encoder.layer.{layer}"
_GIT_SPEC = ArchitectureSpec(
    name="git",
    model_types=("git",),
    decoder="git",
    embed="git.embeddings.word_embeddings",
    pos_embed="git.embeddings.position_embeddings",
    blocks="git.encoder.layer",
    attn=f"{_GIT}.attention",
    attn_q=f"{_GIT}.attention.self.query",
    attn_k=f"{_GIT}.attention.self.key",
    attn_v=f"{_GIT}.attention.self.value",
    attn_o=f"{_GIT}.attention.output.dense",
    attn_writes=f"{_GIT}.attention.output.dense",
    mlp=f"{_GIT}.intermediate",
    mlp_in=f"{_GIT}.intermediate.dense",
    mlp_act=f"{_GIT}.intermediate.intermediate_act_fn",
    mlp_out=f"{_GIT}.output.dense",
    mlp_writes=f"{_GIT}.output.dense",
    final_norm=None,
    unembed="output",
    notes="GIT's text decoder run alone (images are out of scope): BERT-style post-norm layers "
    "(each output module adds the residual and norms it), no final norm; attn_out and mlp_out "
    "are the dense projections' outputs.",
)

CLASSIC_FAMILIES: tuple[ArchitectureSpec, ...] = (
    _OPENAI_GPT,
    _TROCR_SPEC,
    _CTRL_SPEC,
    _CODEGEN_SPEC,
    _GIT_SPEC,
)
