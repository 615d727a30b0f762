"""The mixture-of-experts half of :class:`~babellens.models.adapters.adapter.ModelAdapter`.

A unit of a mixture-of-experts layer is (expert, neuron); these methods give each expert's
weights in math orientation (``x @ W``), read in the layout the experts module declares
(:mod:`babellens.models.adapters.expert_layout`) or, for experts their module runs itself
(JetMoE), in the one its spec names. Kept apart so the adapter stays one screen per concern.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import nn

from babellens.errors import InvalidInputError
from babellens.models.adapters.expert_layout import ExpertsLayout, experts_layout
from babellens.models.adapters.spec import ArchitectureSpec

__all__ = ["ExpertsAdapter"]


class ExpertsAdapter:
    """Mixture-of-experts weights of a bound model; :class:`ModelAdapter` supplies the rest."""

    spec: ArchitectureSpec
    _modules: dict[str, nn.Module]
    n_layers: int

    if TYPE_CHECKING:  # supplied by ModelAdapter

        def module(self, template: str, layer: int = 0) -> nn.Module: ...

        def check_layer(self, layer: int) -> int: ...

    def is_moe_layer(self, layer: int) -> bool:
        template = self.spec.experts
        return template is not None and self.spec.path(template, layer) in self._modules

    @cached_property
    def moe_layers(self) -> list[int]:
        return [layer for layer in range(self.n_layers) if self.is_moe_layer(layer)]

    def experts(self, layer: int) -> nn.Module:
        if not self.is_moe_layer(self.check_layer(layer)):
            raise InvalidInputError(
                f"layer {layer} has a dense MLP, not experts: mixture-of-experts layers are "
                f"{self.moe_layers}"
            )
        return self.module(self.spec.experts, layer)  # type: ignore[arg-type]

    def experts_layout(self, layer: int) -> ExpertsLayout:
        """How layer ``layer``'s experts store their weights: transformers' declared layout,
        Llama 4's transposed one, or the attributes of experts their module runs itself
        (JetMoE), as the spec declares."""
        layout = experts_layout(self.experts(layer))
        if self.spec.experts_router:
            return replace(layout, transposed=True)
        own = self.spec.sorted_experts
        if own is not None:
            weights = (f"{own.w_in}.weight", f"{own.w_out}.weight")
            return ExpertsLayout(weights=weights, activation=own.activation)
        return layout

    @cached_property
    def n_experts(self) -> int:
        return int(self.w_out_experts(self.moe_layers[0]).shape[0])

    @cached_property
    def d_expert(self) -> int:
        return int(self.w_out_experts(self.moe_layers[0]).shape[1])

    def w_out_experts(self, layer: int) -> torch.Tensor:
        """``[n_experts, d_expert, d_model]``: row ``(e, n)`` is what expert e's neuron n writes."""
        return self.experts_layout(layer).down(self.experts(layer))

    def b_out_experts(self, layer: int) -> torch.Tensor | None:
        """``[n_experts, d_model]``: what each expert adds after its down projection (GPT-OSS),
        weighted by its routing weight like the rest of its output."""
        experts = self.experts(layer)
        return experts.down_proj_bias if self.experts_layout(layer).bias else None

    def b_experts(self, layer: int) -> torch.Tensor | None:
        """``[d_model]``: what the experts module adds once to the gate-weighted sum of its
        experts (JetMoE's ``bias``), whichever experts a token was routed to; else ``None``."""
        own = self.spec.sorted_experts
        return getattr(self.experts(layer), own.bias) if own is not None else None

    def experts_scale(self, layer: int) -> float:
        """What the MLP multiplies the experts module's output by before it adds anything else
        (MiniMax-M3's, Beam's ``routed_scaling_factor``); 1 where the routing weights carry it."""
        name = self.spec.experts_scale
        if name is None or not self.is_moe_layer(self.check_layer(layer)):
            return 1.0
        return float(getattr(self.module(self.spec.mlp, layer), name))

    def experts_post_norm(self, layer: int) -> nn.Module | None:
        """The norm that MoE layer ``layer``'s MLP applies to routed plus shared output before
        returning it (AXK1), or ``None``: what ``mlp_out`` is after there."""
        template = self.spec.experts_post_norm
        if template is None or not self.is_moe_layer(self.check_layer(layer)):
            return None
        return self.module(template, layer)

    def b_gate_up_experts(self, layer: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(gate bias, up bias), each ``[n_experts, d_expert]``, for experts with biases."""
        layout = self.experts_layout(layer)
        return layout.split(self.experts(layer).gate_up_proj_bias) if layout.bias else None

    def _gate_up_experts(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        layout = self.experts_layout(layer)
        return layout.split(layout.gate_up(self.experts(layer)))

    def w_gate_experts(self, layer: int) -> torch.Tensor:
        """``[n_experts, d_model, d_expert]``."""
        return self._gate_up_experts(layer)[0]

    def w_in_experts(self, layer: int) -> torch.Tensor:
        """``[n_experts, d_model, d_expert]``: the up projection of each expert."""
        return self._gate_up_experts(layer)[1]
