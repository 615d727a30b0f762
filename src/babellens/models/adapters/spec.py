"""An architecture spec: where a model family keeps each part, declared as data.

A spec names module paths as templates with a ``{layer}`` placeholder, plus the few facts needed
to read weights the same way for every family (Conv1D storage, fused projections). Adding a
family means adding one :class:`ArchitectureSpec` to ``families.py``; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ArchitectureSpec",
    "GateActivation",
    "LatentAttention",
    "OutputGate",
    "QKVLayout",
    "RoutedAttention",
    "SharedExpert",
    "SortedExperts",
]

QKVLayout = Literal["split", "per_head"]
"""How a fused q/k/v projection lays out its outputs.

``split``: ``[q (n_heads*hd) | k (n_kv*hd) | v (n_kv*hd)]`` (GPT-2, Phi-3).
``per_head``: per head ``[q | k | v]`` of ``hd`` each (GPT-NeoX).

A ``split`` projection may also be cut in ``qkv_groups`` model-parallel shards, each holding its
share of the heads' q, k and v in ``qkv_order`` (CodeGen: 4 shards of ``[q | v | k]``).
"""


@dataclass(frozen=True)
class LatentAttention:
    """Multi-latent attention (DeepSeek V2/V3, MiniCPM3, ...): keys and values are read from a
    low-rank latent that passes a norm, so no head has a linear W_K or W_V (and, with a query
    latent, no linear W_Q). Per-head outputs still exist: ``o_proj``'s input, one
    ``v_head_dim`` slice per head. Templates of the three modules that make each head's value:
    ``kv_up(kv_norm(kv_down(x)[..., :kv_lora_rank]))``, per head ``[k_nope | v]``."""

    kv_down: str
    kv_norm: str
    kv_up: str
    scale: str | None = None
    """An attribute of the attention module that multiplies the normed latent (Dots3's
    ``kv_lora_scale``)."""


GateActivation = Literal["sigmoid", "softplus"]


@dataclass(frozen=True)
class OutputGate:
    """A gate on each head's output before W_O (a sigmoid: AFMoE, Beam, Dots3, AXK2; a
    softplus: Laguna): ``attn_z`` is the gated output, exact and linear into W_O, but it is not
    ``pattern @ (x W_V)``.

    ``proj``: the module whose output holds the gate logits; per head, the last ``head_dim``
    columns of its share (one column: one gate per head, broadcast; AXK2's fused
    ``[query | gate]`` keeps the gate last). ``bias``: a per-head bias parameter of the
    attention module added to the logits (Beam's ``gate_bias``). ``activation``: what turns
    the logits into the gate."""

    proj: str
    bias: str | None = None
    activation: GateActivation = "sigmoid"


@dataclass(frozen=True)
class SortedExperts:
    """Experts that their own module runs on token rows sorted by expert (JetMoE's MLP and
    attention experts): no ``experts(x, top_k_index, top_k_weights)`` call exists to hook, so
    the routing is read from the router's output ``(index_sorted_experts, batch_index,
    batch_gates, expert_size, logits)``, the top-k choice grouped by expert. Each gate is the
    softmax over the token's chosen top-k logits only; the full softmax over all experts is
    never computed. Names are attributes of the module that owns the experts: ``w_in`` and
    ``w_out`` each hold one ``[E, out, in]`` weight (``nn.Linear`` orientation per expert),
    ``bias`` is added once to the gate-weighted sum, ``activation`` is the MLP experts'
    ``act(first half) * second half``."""

    router: str = "router"
    w_in: str = "input_linear"
    w_out: str = "output_linear"
    bias: str = "bias"
    activation: str = "activation"


@dataclass(frozen=True)
class SharedExpert:
    """An MLP that every token of a mixture-of-experts layer goes through beside the routed
    experts (DeepSeek's ``shared_experts``, Qwen2-MoE's ``shared_expert``, Granite's
    ``shared_mlp``): an ordinary MLP, so its neurons are units exactly like a dense layer's.

    Templates of its modules: ``w_in`` is the up projection, or with ``gate_up_fused`` one
    ``[gate | up]`` projection (Granite's ``input_linear``, MiniMax-M3's ``gate_up_proj``).
    ``act``: the activation module, ``None`` where the MLP applies its activation inline
    (MiniMax-M3's clamped SwiGLU), so that no ``shared_pre`` can be read. ``output_gate``: a
    ``d_model -> 1`` projection of the MLP's input whose sigmoid scales the shared output per
    token (Qwen2-MoE's ``shared_expert_gate``). ``beside_mlp``: the block, not the MLP module,
    adds the shared output to the MLP module's (Granite-MoE-Shared); ``mlp_out`` is their sum."""

    module: str
    w_in: str
    w_out: str
    w_gate: str | None = None
    gate_up_fused: bool = False
    act: str | None = None
    output_gate: str | None = None
    beside_mlp: bool = False


@dataclass(frozen=True)
class RoutedAttention:
    """Mixture of attention (JetMoE): keys and values come from one shared projection ``kv``
    (``[K | V]``, ``n_kv`` heads); each token's router picks ``top_k`` attention experts, each
    with its own W_Q (``w_in``) and W_O (``w_out``) for all ``n_kv`` heads, and sums their
    outputs weighted by its gates, plus a bias. A head is the fixed pair (kv head h, expert e),
    numbered ``h * n_experts + e`` so that head j reads kv head ``j // n_experts`` as
    grouped-KV heads do; it exists only at the tokens routed to e (NaN elsewhere). ``experts``:
    template of the module that owns the attention experts (laid out as ``layout`` says)."""

    experts: str
    kv: str
    layout: SortedExperts = SortedExperts()


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
    experts_router: str | None = None
    """Llama 4: the router module whose first output, ``[tokens, n_experts]`` scores (0 where not
    routed), scales each token *before* the experts; the experts module then receives
    ``[n_experts * tokens, d_model]`` pre-scaled rows and no routing arguments, and its weights
    are stored transposed (``[E, d_model, 2*d_expert]``)."""
    sorted_experts: SortedExperts | None = None
    """JetMoE: the module at ``experts`` runs its experts itself (see :class:`SortedExperts`)."""
    experts_scale: str | None = None
    """An attribute of the MLP module that multiplies the experts module's output before the
    MLP returns it (MiniMax-M3's and Beam's ``routed_scaling_factor``; DeepSeek's scales the
    routing weights instead, so ``router_probs`` already holds it)."""
    shared_expert: SharedExpert | None = None
    """The MLP that mixture-of-experts layers run on every token beside the routed experts."""
    experts_post_norm: str | None = None
    """A norm the MLP module of mixture-of-experts layers applies to routed plus shared output
    before returning it (AXK1's ``mlp.post_mlp_layernorm``): ``mlp_out`` there is after it, so
    neither experts' writes add up to ``mlp_out`` linearly."""
    latent: LatentAttention | None = None
    gate: OutputGate | None = None
    heads_per_layer: str | None = None
    """A config attribute listing each layer's query head count where layers differ (Laguna's
    ``num_attention_heads_per_layer``); key/value heads are read per layer from W_V."""
    routed_attention: RoutedAttention | None = None
    sinks_scale_output: bool = False
    """Granite SWA: the attention sink's share is not in the returned pattern (its rows sum to
    1); it scales each head's output by ``sigmoid(logsumexp(scores) - sink)`` instead."""
    value_scale: str | None = None
    """An attribute of the attention module that multiplies every value (MiMo-V2-Flash's
    ``v_scale``); ``w_v`` and ``b_V`` include it."""
    residual_scale: str | None = None
    """An attribute of each block that multiplies attention's and the MLP's writes before the
    residual add (Granite's ``residual_multiplier``, MiniCPM3's ``scale_depth / sqrt(L)``)."""
    attn_returned_bias: str | None = None
    """GPT-NeoX-Japanese: the attention module returns ``(out, pattern, bias)`` with this
    parameter as the bias (None in most layers), and the block adds it after attention;
    ``attn_out`` includes it."""
    norms: dict[str, str] = field(default_factory=dict)
    pos_embed: str | None = None
    conv1d: bool = False
    """Weights stored ``[in, out]`` (GPT-2's Conv1D) instead of ``nn.Linear``'s ``[out, in]``."""
    parallel_residual: bool = False
    """Attention and MLP both read the block input (GPT-NeoX with ``use_parallel_residual``)."""
    notes: str = ""

    @property
    def values_problem(self) -> str | None:
        """Why a head's output is not ``pattern @ (x W_V)`` in this family, or not at every token
        (routed heads exist only where their expert was chosen, under an input-dependent gate),
        or ``None``: what an analysis built on that identity (OV circuits, the frozen-attention
        replacement model, splitting an edge by head, head attribution) must refuse, naming it."""
        if self.latent:
            return (
                "multi-latent attention (keys and values come from a normed low-rank latent: "
                "no linear per-head W_Q, W_K or W_V)"
            )
        if self.gate:
            act = self.gate.activation
            return f"an output gate on attention ({act}(x W_G) scales each head before W_O)"
        if self.sinks_scale_output:
            return "attention sinks that scale each head's output outside the returned pattern"
        if self.routed_attention:
            return (
                "attention heads routed as experts (mixture of attention: a router picks each "
                "token's heads and weighs their outputs, so no head is linear in x W_V at every token)"
            )
        return None

    @property
    def attn_router(self) -> str | None:
        """The router of routed attention heads (a template), or ``None``."""
        routed = self.routed_attention
        return f"{routed.experts}.{routed.layout.router}" if routed else None

    @property
    def sorted_router(self) -> str | None:
        """The router of experts that their module runs itself (a template), or ``None``."""
        if self.sorted_experts is None or self.experts is None:
            return None
        return f"{self.experts}.{self.sorted_experts.router}"

    @property
    def shared_act(self) -> str | None:
        """The shared expert's activation module (a template), or ``None``."""
        return self.shared_expert.act if self.shared_expert else None

    @property
    def shared_down(self) -> str | None:
        """The shared expert's down projection (a template), or ``None``."""
        return self.shared_expert.w_out if self.shared_expert else None

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
