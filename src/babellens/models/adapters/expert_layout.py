"""How a mixture-of-experts module stores its weights, read from what transformers declares.

transformers' ``@use_experts_implementation`` sets four facts on every experts module it
decorates, and its fused kernels read them: ``is_transposed`` (``gate_up_proj`` is
``[E, d_model, 2*d_expert]`` and ``down_proj`` ``[E, d_expert, d_model]``, as Aria, GPT-OSS and
Llama 4 store them, rather than ``nn.Linear``'s ``[out, in]`` per expert), ``is_concatenated``
(``[gate | up]`` halves, or GPT-OSS's interleaved ``gate0, up0, gate1, ...`` columns),
``has_bias`` (``gate_up_proj_bias`` and ``down_proj_bias``) and ``has_gate``. The activation is
the module's own ``_apply_gate`` (GPT-OSS and MiniMax-M3 clamp a SwiGLU), else
``act_fn(gate) * up``. Reading the same declaration keeps BabelLens's expert neurons what the
model computes, for every layout transformers supports.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ExpertsLayout", "experts_layout", "experts_problem"]

_WEIGHTS = {"gate_up_proj", "down_proj"}
_BIASES = {"gate_up_proj_bias", "down_proj_bias"}


@dataclass(frozen=True)
class ExpertsLayout:
    """The storage of one experts module (transformers' own flags, with their defaults).

    ``weights`` and ``activation`` name the module's attributes: transformers' experts modules
    keep ``gate_up_proj``, ``down_proj`` and ``act_fn``; JetMoE's MoE module, whose spec says
    so, keeps ``input_linear.weight``, ``output_linear.weight`` and ``activation``."""

    transposed: bool = False
    concatenated: bool = True
    bias: bool = False
    weights: tuple[str, str] = ("gate_up_proj", "down_proj")
    activation: str = "act_fn"

    def stored_gate_up(self, module: nn.Module) -> torch.Tensor:
        """The fused gate/up weight as stored (``[E, 2*d_expert, d_model]`` or transposed)."""
        return _attribute(module, self.weights[0])

    def gate_up(self, module: nn.Module) -> torch.Tensor:
        """``[E, d_model, 2*d_expert]`` in math orientation, columns in storage order."""
        weight = self.stored_gate_up(module)
        return weight if self.transposed else weight.transpose(1, 2)

    def down(self, module: nn.Module) -> torch.Tensor:
        """``[E, d_expert, d_model]``: row ``(e, n)`` is what expert e's neuron n writes."""
        weight = _attribute(module, self.weights[1])
        return weight if self.transposed else weight.transpose(1, 2)

    def split(self, gate_up: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gate, up) along the last axis: halves, or even and odd columns when interleaved."""
        if self.concatenated:
            gate, up = gate_up.chunk(2, dim=-1)
            return gate, up
        return gate_up[..., ::2], gate_up[..., 1::2]


def _attribute(module: nn.Module, path: str) -> torch.Tensor:
    for name in path.split("."):
        module = getattr(module, name)
    return module  # type: ignore[return-value]


def experts_layout(module: nn.Module) -> ExpertsLayout:
    return ExpertsLayout(
        transposed=bool(getattr(module, "is_transposed", False)),
        concatenated=bool(getattr(module, "is_concatenated", True)),
        bias=bool(getattr(module, "has_bias", False)),
    )


def experts_problem(
    module: nn.Module, layout: ExpertsLayout | None = None, *, routed: bool = True
) -> str | None:
    """Why ``module``'s experts cannot be read exactly (its storage or call), or ``None``.

    ``layout`` overrides the module's own flags (a spec that declares them); ``routed=False``
    for experts that receive pre-scaled rows instead of the router's top-k (Llama 4)."""
    layout = layout or experts_layout(module)
    gate_up, down = getattr(module, "gate_up_proj", None), getattr(module, "down_proj", None)
    if not (isinstance(gate_up, torch.Tensor) and isinstance(down, torch.Tensor)):
        return "experts without a fused gate_up_proj and a down_proj tensor"
    if getattr(module, "has_gate", True) is False or getattr(module, "has_post_expert_norm", False):
        return "experts without a gate, or with a norm after each expert"
    math_gate_up, math_down = layout.gate_up(module), layout.down(module)
    shapes_fit = (
        math_gate_up.dim() == math_down.dim() == 3
        and math_gate_up.shape[1] == math_down.shape[2]
        and math_gate_up.shape[2] == 2 * math_down.shape[1]
    )
    params = {name for name, _ in module.named_parameters()}
    allowed = _WEIGHTS | (_BIASES if layout.bias else set())
    takes_routing = len(inspect.signature(module.forward).parameters) >= (3 if routed else 1)
    activation = hasattr(module, "act_fn") or hasattr(module, "_apply_gate")
    if not (shapes_fit and params <= allowed and takes_routing and activation):
        return (
            f"experts stored as {type(module).__name__} (not a gate_up_proj/down_proj pair in a "
            "layout transformers declares, with a router's top-k input)"
        )
    return None
