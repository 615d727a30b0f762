"""What BabelLens cannot analyse exactly yet, by name, so the refusal says what is missing.

Two kinds: whole families whose blocks compute something no spec can describe (listed by
``model_type``), and structures recognised in any model (experts, latent attention, recurrent
mixers). Each message is one line and names the missing piece; the sweep test checks that every
other architecture is exact.
"""

from __future__ import annotations

from torch import nn

__all__ = ["FAMILY_REFUSALS", "structural_refusal"]

_RECURRENT = "state-space / recurrent blocks (no attention heads or MLP neurons to hook)"
_HYBRID = "hybrid blocks mixing attention with linear-attention or state-space layers"

FAMILY_REFUSALS: dict[str, str] = {
    "diffllama": "differential attention (two softmax maps per head, subtracted)",
    "bitnet": "sub-norms inside attention and the MLP, between the heads and W_O, the neurons and W_out",
    "beam": "an output gate on attention between the value heads and W_O",
    "dory": "blocks that change the sequence length",
    "granite_swa": "attention sinks whose share does not match the returned attention pattern",
    "granitemoe_swa": "attention sinks whose share does not match the returned attention pattern",
    "afmoe": "an output gate on attention between the value heads and W_O",
    "laguna": "per-layer head counts that the config does not state",
    "mimo_v2_flash": "value heads of another size than query/key heads",
    "zaya": "compressed (CCA) attention projections instead of per-head q/k/v weights",
    "gpt_neox_japanese": "an attention bias the last block adds outside attention (dense_bias is not in attn_out)",
    "cpmant": "learned prompt tokens the model prepends itself (its blocks see a longer sequence than the input)",
    "hrm_text": "two stacks of blocks run in loops (the same blocks several times per token)",
    "jetmoe": "attention heads routed as experts (mixture of attention) and experts outside an experts(x, top_k_index, top_k_weights) module",
    "modernbert-decoder": "a nonlinear prediction head (dense, activation, norm) between the final norm and W_U",
    "llama4_text": "experts whose router weight scales each token before the expert, not the expert's output",
    "mamba": _RECURRENT,
    "mamba2": _RECURRENT,
    "falcon_mamba": _RECURRENT,
    "rwkv": _RECURRENT,
    "xlstm": _RECURRENT,
    "recurrent_gemma": _HYBRID,
    "bamba": _HYBRID,
    "jamba": _HYBRID,
    "zamba": _HYBRID,
    "zamba2": _HYBRID,
    "falcon_h1": _HYBRID,
    "granitemoehybrid": _HYBRID,
    "nemotron_h": _HYBRID,
    "lfm2": _HYBRID,
    "lfm2_moe": _HYBRID,
    "lfm3": _HYBRID,
    "qwen3_next": _HYBRID,
    "qwen3_5": _HYBRID,
    "qwen3_5_text": _HYBRID,
    "qwen3_5_moe": _HYBRID,
    "qwen3_5_moe_text": _HYBRID,
    "qwen4_exp": _HYBRID,
    "qwen4_exp_text": _HYBRID,
    "kimi_linear": _HYBRID,
    "bailing_hybrid": _HYBRID,
    "olmo_hybrid": _HYBRID,
    "minimax": _HYBRID,
    "lara_mini": _HYBRID,
}

_STRUCTURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("q_a_proj", "kv_a_proj_with_mqa", "kv_b_proj"),
        "multi-latent attention (values pass a norm on the low-rank latent: no linear per-head W_V)",
    ),
    (("mixer", "linear_attn", "mamba", "ssm", "conv1d"), _HYBRID),
)


def structural_refusal(model: nn.Module) -> str | None:
    """What a model contains that no spec describes, read from its module names."""
    leaves = {name.rpartition(".")[2] for name, _ in model.named_modules()}
    leaves |= {name.rpartition(".")[2] for name, _ in model.named_parameters()}
    for markers, what in _STRUCTURES:
        if leaves & set(markers):
            return what
    return None
