"""Shared-expert hook points, and ``mlp_out`` where the block adds the shared expert itself.

A shared expert is an ordinary MLP inside (or beside) a mixture-of-experts layer, so
``shared_pre`` and ``shared_post`` are plain module hooks, captured and edited like ``mlp_pre``
and ``mlp_post``; this module only refuses them, in one line, where a layer has no shared expert.
Granite-MoE-Shared's block adds its ``shared_mlp`` beside the MoE module's output, so no module
returns what the MLP writes: ``mlp_out`` is read as the sum when the shared MLP returns (it runs
second), and an edit of the sum is written back through the shared MLP's output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from babellens.capture.hook_points import HookPoint
from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter import ModelAdapter

__all__ = ["SHARED_KINDS", "check_shared_point", "install_mlp_out_beside", "mlp_out_beside"]

SHARED_KINDS = ("shared_pre", "shared_post")

Process = Callable[[torch.Tensor], torch.Tensor | None]


def check_shared_point(adapter: ModelAdapter, point: HookPoint) -> None:
    """Refuse a shared-expert point where the layer (or the model) has none, naming where."""
    layer, spec = point.layer, adapter.spec
    if spec.shared_expert is None:
        raise InvalidInputError(
            f"{point} is unavailable: {spec.name} has no shared expert; its MLP neurons are "
            f"{'expert_post' if adapter.is_moe_layer(layer) else 'mlp_post'}.{layer}"
        )
    if not adapter.has_shared_expert(layer):
        raise InvalidInputError(
            f"{point} is unavailable: layer {layer} has no shared expert (layers with one: "
            f"{adapter.shared_layers}); its MLP neurons are "
            f"{'expert_post' if adapter.is_moe_layer(layer) else 'mlp_post'}.{layer}"
        )
    if point.kind == "shared_pre" and spec.shared_act is None:
        raise InvalidInputError(
            f"{point} is unavailable: {spec.name}'s shared expert applies its activation inline "
            f"(no activation module); capture shared_post.{layer}"
        )


def mlp_out_beside(adapter: ModelAdapter, layer: int) -> bool:
    """Whether ``mlp_out.layer`` is the MLP module's output plus a shared MLP the block adds."""
    shared = adapter.spec.shared_expert
    return shared is not None and shared.beside_mlp and adapter.has_shared_expert(layer)


def install_mlp_out_beside(
    adapter: ModelAdapter, layer: int, process: Process
) -> list[RemovableHandle]:
    """Hooks that read ``mlp_out`` as ``mlp(x) + shared(x)``, summed in the block's order so
    the value is the block's own, and write an edited sum back through the shared output."""
    routed: list[torch.Tensor] = []

    def keep_routed(_m: torch.nn.Module, _args: tuple, output: Any) -> None:
        routed[:] = [output[0] if isinstance(output, tuple) else output]

    def combine(_m: torch.nn.Module, _args: tuple, output: torch.Tensor) -> Any:
        if not routed:
            raise InvalidInputError(
                f"mlp_out.{layer} is unavailable: the block ran its shared MLP before its MLP"
            )
        first = routed.pop()
        new = process(first + output)
        return None if new is None else new - first

    mlp = adapter.module(adapter.spec.mlp, layer)
    shared = adapter.module(adapter.spec.shared_expert.module, layer)  # type: ignore[union-attr]
    return [mlp.register_forward_hook(keep_routed), shared.register_forward_hook(combine)]
