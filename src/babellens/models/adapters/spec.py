"""An architecture spec: where a model family keeps each part, declared as data.

A spec names module paths as templates with a ``{layer}`` placeholder, plus the few facts needed
to read weights the same way for every family (Conv1D storage, fused projections). Adding a
family means adding one :class:`ArchitectureSpec` to ``families.py``; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ArchitectureSpec", "QKVLayout"]

QKVLayout = Literal["split", "per_head"]
"""How a fused q/k/v projection lays out its outputs.

``split``: ``[q (n_heads*hd) | k (n_kv*hd) | v (n_kv*hd)]`` (GPT-2, Phi-3).
``per_head``: per head ``[q | k | v]`` of ``hd`` each (GPT-NeoX).

A ``split`` projection may also be cut in ``qkv_groups`` model-parallel shards, each holding its
share of the heads' q, k and v in ``qkv_order`` (CodeGen: 4 shards of ``[q | v | k]``).
"""


@dataclass(frozen=True)
class ArchitectureSpec:
    """Module paths (``{layer}`` templates, relative to the ``*ForCausalLM`` model) of one family.

    Norm roles: ``attn_in`` (before attention), ``attn_out`` (Gemma's post-attention norm, applied
    to the attention output before the residual add), ``mlp_in`` (before the MLP), ``mlp_out``
    (Gemma's post-feed-forward norm). A role a family lacks is simply absent.
    """

    name: str
    model_types: tuple[str, ...]
    decoder: str
    embed: str
    blocks: str
    attn: str
    attn_o: str
    mlp: str
    mlp_in: str
    mlp_act: str
    mlp_out: str
    final_norm: str | None
    """``None`` for post-norm models that end on a block's own norm (GPT-1, TrOCR)."""
    unembed: str
    attn_q: str | None = None
    attn_k: str | None = None
    attn_v: str | None = None
    attn_qkv: str | None = None
    qkv_layout: QKVLayout = "split"
    qkv_groups: int = 1
    """Model-parallel shards of a ``split`` fused projection (CodeGen: 4); heads are numbered
    shard by shard."""
    qkv_order: str = "qkv"
    """The order of q, k and v inside each shard of a ``split`` fused projection."""
    mlp_gate: str | None = None
    gate_up_fused: bool = False
    """``mlp_in`` is one projection whose first half is the gate and second half the input."""
    mlp_reads: str | None = None
    """Where the MLP's input is read when the block has no MLP module (OPT: ``fc1``)."""
    flat_mlp: bool = False
    """The MLP runs on ``[batch * pos, d]`` rows (OPT); MLP hook points are reshaped back."""
    attn_writes: str | None = None
    """Where attention's output is read when the attention module adds the residual itself
    (BLOOM, MPT: the output projection)."""
    mlp_writes: str | None = None
    """Where the MLP's output is read when the block has no MLP module (OPT: ``fc2``)."""
    mlp_pre_output: str | None = None
    """Where ``mlp_pre`` is read as a module's output instead of the activation's input, for a
    non-gated MLP whose activation is one module shared by every block (GPT-1): W_in's output
    is exactly what the activation receives."""
    experts: str | None = None
    """The experts module of mixture-of-experts layers (``experts(x, top_k_index, top_k_weights)``
    with ``gate_up_proj [E, 2*d_expert, d_model]`` and ``down_proj [E, d_model, d_expert]``); a
    layer without it is dense."""
    norms: dict[str, str] = field(default_factory=dict)
    pos_embed: str | None = None
    conv1d: bool = False
    """Weights stored ``[in, out]`` (GPT-2's Conv1D) instead of ``nn.Linear``'s ``[out, in]``."""
    parallel_residual: bool = False
    """Attention and MLP both read the block input (GPT-NeoX with ``use_parallel_residual``)."""
    notes: str = ""

    @property
    def attn_output_module(self) -> str:
        return self.attn_writes or self.attn

    @property
    def mlp_input_module(self) -> str:
        return self.mlp_reads or self.mlp

    @property
    def mlp_output_module(self) -> str:
        return self.mlp_writes or self.mlp

    @property
    def gated(self) -> bool:
        return self.mlp_gate is not None or self.gate_up_fused

    def block_path(self, layer: int) -> str:
        return f"{self.blocks}.{layer}"

    def path(self, template: str, layer: int) -> str:
        return template.format(layer=layer)
