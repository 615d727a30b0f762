"""A spec bound to a loaded model: modules by role and layer, and weights in one orientation.

Every weight is returned in "math" orientation, ``x @ W``: ``W_in`` is ``[d_model, d_mlp]``,
``W_out`` is ``[d_mlp, d_model]``, ``W_O`` is ``[n_heads, head_dim, d_model]`` and ``W_U`` is
``[d_model, vocab]``, whatever the storage (``nn.Linear`` keeps ``[out, in]``, GPT-2's Conv1D keeps
``[in, out]``). Weights are views of the model's parameters, not copies.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import nn

from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter_experts import ExpertsAdapter
from babellens.models.adapters.adapter_shared import SharedExpertAdapter
from babellens.models.adapters.registry import spec_for
from babellens.models.adapters.routed_attention import (
    routed_b_o,
    routed_head_dim,
    routed_n_heads,
    routed_qkv,
    routed_w_o,
)
from babellens.models.adapters.spec import ArchitectureSpec

__all__ = ["ModelAdapter"]

_HEAD_ATTRS = ("num_attention_heads", "n_head", "num_heads")
_KV_ATTRS = ("num_key_value_heads", "n_kv_heads", "multi_query_group_num")


def _config_int(config: object, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _split_fused_qkv(
    fused: torch.Tensor, groups: int, order: str, widths: tuple[int, int]
) -> list[torch.Tensor]:
    """(Q, K, V) columns of a ``split`` fused projection ``[..., (q|k|v) widths]``.

    With model-parallel shards (CodeGen), the last axis is ``groups`` shards of ``[q | v | k]``
    (``order``), each with ``1/groups`` of every part; the shards' parts are concatenated back
    so head ``h`` of a part is shard ``h // (heads / groups)``'s head ``h % (heads / groups)``,
    as the model's own reshape numbers them.
    """
    q_width, kv_width = widths
    width = {"q": q_width, "k": kv_width, "v": kv_width}
    lead = fused.shape[:-1]
    shards = fused.reshape(*lead, groups, -1)
    parts = dict(zip(order, shards.split([width[c] // groups for c in order], dim=-1), strict=True))
    return [parts[c].reshape(*lead, width[c]) for c in "qkv"]


class ModelAdapter(ExpertsAdapter, SharedExpertAdapter):
    """Resolves an :class:`ArchitectureSpec` against one model instance (its mixture-of-experts
    weights: :class:`ExpertsAdapter`; its shared experts: :class:`SharedExpertAdapter`)."""

    def __init__(self, model: nn.Module, spec: ArchitectureSpec | None = None) -> None:
        self.model = model
        self.spec = spec or spec_for(model)
        self._modules = dict(model.named_modules(remove_duplicate=False))
        """Every path, also of a module shared by several blocks (GPT-1's activation)."""
        config = getattr(model, "config", None)
        get_text = getattr(config, "get_text_config", None)
        self.config = get_text() if callable(get_text) else config
        """The language model's config (a multimodal checkpoint's ``text_config``)."""

    # ---- modules -------------------------------------------------------------------------
    def module(self, template: str, layer: int = 0) -> nn.Module:
        path = self.spec.path(template, layer)
        try:
            return self._modules[path]
        except KeyError:
            raise InvalidInputError(
                f"module {path!r} not found in {type(self.model).__name__}"
            ) from None

    def block(self, layer: int) -> nn.Module:
        return self.module(self.spec.block_path(self.check_layer(layer)))

    @property
    def decoder(self) -> nn.Module:
        return self.module(self.spec.decoder)

    def norm(self, role: str, layer: int) -> nn.Module | None:
        template = self.spec.norms.get(role)
        return self.module(template, layer) if template else None

    # ---- shape facts ---------------------------------------------------------------------
    @cached_property
    def n_layers(self) -> int:
        return len(self.module(self.spec.blocks))  # type: ignore[arg-type]

    @cached_property
    def d_model(self) -> int:
        return int(self.module(self.spec.embed).weight.shape[1])

    @cached_property
    def d_mlp(self) -> int:
        """Neurons per dense MLP (per expert where every layer routes to experts)."""
        dense = [layer for layer in range(self.n_layers) if not self.is_moe_layer(layer)]
        return int(self.w_out(dense[0]).shape[0]) if dense else self.d_expert

    def _dense(self, layer: int) -> int:
        if self.is_moe_layer(self.check_layer(layer)):
            raise InvalidInputError(
                f"layer {layer} is a mixture-of-experts layer: its units are (expert, neuron); "
                "use expert_post and w_out_experts"
            )
        return layer

    @cached_property
    def vocab_size(self) -> int:
        return int(self.w_u.shape[1])

    @cached_property
    def _config_heads(self) -> int:
        if self.spec.routed_attention is not None:  # every (kv head, expert) pair
            return routed_n_heads(self)
        heads = _config_int(self.config, _HEAD_ATTRS)
        if heads is None:
            raise InvalidInputError("the model config does not say how many attention heads it has")
        return heads

    @cached_property
    def heads_per_layer(self) -> tuple[int, ...]:
        """Query heads of each layer: the config's per-layer list where the spec names one
        (Laguna), else the one count of the config."""
        name = self.spec.heads_per_layer
        if name is None:
            return (self._config_heads,) * self.n_layers
        return tuple(int(h) for h in getattr(self.config, name))

    def heads_at(self, layer: int) -> int:
        return self.heads_per_layer[self.check_layer(layer)]

    @property
    def uneven_heads(self) -> str | None:
        """Why no one head count fits every layer, or ``None``: what anything that stacks heads
        across layers (head attribution, graphs' head tables) must refuse, naming it."""
        heads = self.heads_per_layer
        if len(set(heads)) == 1:
            return None
        return f"query head counts that differ from layer to layer ({list(heads)})"

    @property
    def n_heads(self) -> int:
        """Query heads per layer; raises where layers differ (use :meth:`heads_at`)."""
        if self.uneven_heads is not None:
            raise InvalidInputError(
                f"{self.spec.name} has {self.uneven_heads}: no one head count fits every layer; "
                "use attn_z, attn_pattern and W_O layer by layer, which are exact"
            )
        return self.heads_per_layer[0]

    @cached_property
    def n_kv_heads(self) -> int:
        if self.spec.latent is not None:  # every query head reads its own key and value
            return self.n_heads
        if getattr(self.config, "multi_query", False) is True:
            return 1
        return _config_int(self.config, _KV_ATTRS) or self.n_heads

    @cached_property
    def head_dim(self) -> int:
        if self.spec.routed_attention is not None:
            return routed_head_dim(self)
        o_in = self._in_out(self.module(self.spec.attn_o, 0))[0].shape[0]
        return int(o_in // self.heads_at(0))

    @property
    def parallel_residual(self) -> bool:
        return self.spec.parallel_residual and bool(
            getattr(self.config, "use_parallel_residual", True)
        )

    def check_layer(self, layer: int) -> int:
        if not 0 <= layer < self.n_layers:
            raise InvalidInputError(
                f"layer {layer} is out of range: this model has layers 0..{self.n_layers - 1}"
            )
        return layer

    def check_neuron(self, neuron: int) -> int:
        if not 0 <= neuron < self.d_mlp:
            raise InvalidInputError(
                f"neuron {neuron} is out of range: MLP layers have neurons 0..{self.d_mlp - 1}"
            )
        return neuron

    def check_head(self, head: int, layer: int | None = None) -> int:
        """``head`` if layer ``layer`` (any layer where all have as many heads) has it."""
        heads = self.n_heads if layer is None else self.heads_at(layer)
        if not 0 <= head < heads:
            where = "attention" if layer is None else f"layer {layer}"
            raise InvalidInputError(
                f"head {head} is out of range: {where} has heads 0..{heads - 1}"
            )
        return head

    # ---- weights ---------------------------------------------------------------------------
    def _in_out(self, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight as [in, out], bias or None) for a Linear or a Conv1D."""
        weight = module.weight
        weight = weight if self.spec.conv1d and module.__class__.__name__ == "Conv1D" else weight.T
        return weight, getattr(module, "bias", None)

    def _mlp_in_parts(
        self, layer: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(W_in, b_in, W_gate) with a fused gate_up projection split (gate first)."""
        weight, bias = self._in_out(self.module(self.spec.mlp_in, self._dense(layer)))
        if self.spec.gate_up_fused:
            gate, w_in = weight.chunk(2, dim=1)
            b_in = bias.chunk(2)[1] if bias is not None else None
            return w_in, b_in, gate
        gate = (
            self._in_out(self.module(self.spec.mlp_gate, layer))[0] if self.spec.mlp_gate else None
        )
        return weight, bias, gate

    def w_in(self, layer: int) -> torch.Tensor:
        """``[d_model, d_mlp]``: the (up) input projection of the MLP."""
        return self._mlp_in_parts(layer)[0]

    def b_in(self, layer: int) -> torch.Tensor | None:
        return self._mlp_in_parts(layer)[1]

    def w_gate(self, layer: int) -> torch.Tensor | None:
        """``[d_model, d_mlp]`` for gated MLPs (SwiGLU, GeGLU), else ``None``."""
        return self._mlp_in_parts(layer)[2]

    def w_out(self, layer: int) -> torch.Tensor:
        """``[d_mlp, d_model]``: row ``n`` is what neuron ``n`` writes to the residual stream."""
        return self._in_out(self.module(self.spec.mlp_out, self._dense(layer)))[0]

    def b_out(self, layer: int) -> torch.Tensor | None:
        return self._in_out(self.module(self.spec.mlp_out, self._dense(layer)))[1]

    def w_o(self, layer: int) -> torch.Tensor:
        """``[n_heads, head_dim, d_model]``: per-head output projections ``W_O^h``."""
        if self.spec.routed_attention is not None:
            return routed_w_o(self, self.check_layer(layer))
        weight = self._in_out(self.module(self.spec.attn_o, self.check_layer(layer)))[0]
        return weight.reshape(self.heads_at(layer), self.head_dim, weight.shape[1])

    def b_o(self, layer: int) -> torch.Tensor | None:
        """What attention adds after the heads: W_O's bias, plus the bias GPT-NeoX-Japanese's
        attention returns for its block to add, or routed attention's bias (added once)."""
        if self.spec.routed_attention is not None:
            return routed_b_o(self, self.check_layer(layer))
        bias = self._in_out(self.module(self.spec.attn_o, self.check_layer(layer)))[1]
        name = self.spec.attn_returned_bias
        extra = getattr(self.module(self.spec.attn, layer), name) if name else None
        if extra is None:
            return bias
        return extra if bias is None else bias + extra

    def _qkv_parts(self, layer: int, bias: bool) -> list[torch.Tensor | None]:
        """(Q, K, V) weights as ``[d_model, heads * head_dim]`` (or their biases)."""
        self.check_layer(layer)
        spec = self.spec
        if spec.latent is not None:
            raise InvalidInputError(
                f"W_Q, W_K and W_V are unavailable for {spec.name}: it uses {spec.values_problem}; "
                "use attn_z, attn_pattern and W_O, which are exact"
            )
        if spec.routed_attention is not None:
            return routed_qkv(self, layer, bias)
        pick = 1 if bias else 0
        if spec.attn_qkv is None:
            return [
                self._in_out(self.module(p, layer))[pick]
                for p in (spec.attn_q, spec.attn_k, spec.attn_v)
            ]  # type: ignore[arg-type]
        fused = self._in_out(self.module(spec.attn_qkv, layer))[pick]
        if fused is None:
            return [None, None, None]
        hd, nq, nkv = self.head_dim, self.heads_at(layer), self.n_kv_heads
        lead = fused.shape[:-1]
        if spec.qkv_layout == "per_head":
            per_head = fused.reshape(*lead, nq, 3, hd)
            return [per_head[..., i, :].reshape(*lead, nq * hd) for i in range(3)]
        return _split_fused_qkv(fused, spec.qkv_groups, spec.qkv_order, (nq * hd, nkv * hd))

    def _qkv(self, layer: int) -> list[torch.Tensor]:
        return self._qkv_parts(layer, bias=False)  # type: ignore[return-value]

    def kv_heads_at(self, layer: int) -> int:
        """Key/value heads of layer ``layer``, read from its W_V's width (MiMo-V2-Flash's
        sliding-window layers have twice as many as its full-attention layers)."""
        return int(self._qkv(layer)[2].shape[-1] // self.head_dim)

    def _head_widths(self, layer: int) -> tuple[int, int, int]:
        """(heads of Q, K and V) at ``layer``; a query/key head may be wider than a value head."""
        kv = self.kv_heads_at(layer)
        return self.heads_at(layer), kv, kv

    def b_qkv(self, layer: int) -> list[torch.Tensor | None]:
        """(b_Q ``[n_heads, qk_head_dim]``, b_K, b_V ``[n_kv_heads, head_dim]``), ``None`` if
        absent."""
        parts = self._qkv_parts(layer, bias=True)
        if parts[2] is not None:
            parts[2] = parts[2] * self.value_scale(layer)
        heads = self._head_widths(layer)
        return [None if b is None else b.reshape(h, -1) for b, h in zip(parts, heads, strict=True)]

    def w_q(self, layer: int) -> torch.Tensor:
        """``[n_heads, d_model, qk_head_dim]`` (the layer's own head count)."""
        return self._heads(self._qkv(layer)[0], self.heads_at(layer))

    def w_k(self, layer: int) -> torch.Tensor:
        """``[n_kv_heads, d_model, qk_head_dim]`` (grouped KV: fewer than ``n_heads``)."""
        return self._heads(self._qkv(layer)[1], self.kv_heads_at(layer))

    def w_v(self, layer: int) -> torch.Tensor:
        """``[n_kv_heads, d_model, head_dim]`` (times the family's value scale: then a copy)."""
        return self._heads(self._qkv(layer)[2], self.kv_heads_at(layer)) * self.value_scale(layer)

    def value_scale(self, layer: int) -> float:
        """What the attention multiplies every value by (MiMo-V2-Flash's ``v_scale``); else 1."""
        name = self.spec.value_scale
        return float(getattr(self.module(self.spec.attn, layer), name)) if name else 1.0

    def residual_scale(self, layer: int) -> float:
        """What block ``layer`` multiplies attention's and the MLP's writes by before adding
        them to the residual stream (Granite, MiniCPM3); 1 elsewhere."""
        name = self.spec.residual_scale
        return float(getattr(self.block(layer), name)) if name else 1.0

    def _heads(self, weight: torch.Tensor, heads: int) -> torch.Tensor:
        return weight.reshape(weight.shape[0], heads, -1).permute(1, 0, 2)

    @property
    def w_u(self) -> torch.Tensor:
        """``[d_model, vocab]``: the unembedding."""
        return self.module(self.spec.unembed).weight.T

    @property
    def b_u(self) -> torch.Tensor | None:
        return getattr(self.module(self.spec.unembed), "bias", None)

    @cached_property
    def logit_scale(self) -> float:
        """What the model multiplies its logits by after the unembedding (Cohere, Granite); else 1."""
        scale = getattr(self.config, "logit_scale", None)
        if isinstance(scale, int | float) and not isinstance(scale, bool):
            return float(scale)
        divisor = getattr(self.config, "logits_scaling", None)
        if isinstance(divisor, int | float) and divisor:
            return 1.0 / float(divisor)
        return 1.0

    @cached_property
    def final_norm(self) -> nn.Module:
        """The norm after the last block; the identity for post-norm models that have none."""
        if self.spec.final_norm is None:
            return nn.Identity()
        return self.module(self.spec.final_norm)

    def unembed(self, resid: torch.Tensor, *, normed: bool = False) -> torch.Tensor:
        """Residual stream ``[..., d_model]`` -> logits ``[..., vocab]``, in the model's dtype.

        What the model's head does after its last block, written once for every family: the
        final norm (skipped when ``normed``: the input already passed it), the unembedding module
        (so its bias and storage are the model's own), the logit scale (Cohere, Granite) and the
        tanh soft-cap (Gemma 2's ``final_logit_softcapping``). It runs under the caller's grad
        mode, so attribution code may differentiate through it.
        """
        hidden = resid if normed else self.final_norm(resid)
        logits = self.module(self.spec.unembed)(hidden)
        divisor = getattr(self.config, "logits_scaling", None)
        if self.logit_scale != 1.0 and getattr(self.config, "logit_scale", None) is None:
            logits = logits / divisor  # Granite divides (bit for bit as its head does)
        elif self.logit_scale != 1.0:
            logits = logits * self.logit_scale
        cap = getattr(self.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits
