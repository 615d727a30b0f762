"""What BabelLens cannot analyse exactly yet, by name, so the refusal says what is missing.

Two kinds: whole families whose blocks compute something no spec can describe (listed by
``model_type``), and structures recognised in any model (hyper-connections, recurrent mixers). Each message is one line and names the missing piece; the sweep test checks that every
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
    "dory": "blocks that change the sequence length",
    "zaya": "compressed (CCA) attention projections instead of per-head q/k/v weights",
    "cpmant": "learned prompt tokens the model prepends itself (its blocks see a longer sequence than the input)",
    "hrm_text": "two stacks of blocks run in loops (the same blocks several times per token)",
    "modernbert-decoder": "a nonlinear prediction head (dense, activation, norm) between the final norm and W_U",
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
        ("attn_hc", "ffn_hc"),
        "hyper-connections (several residual streams, mixed before and after each block)",
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
