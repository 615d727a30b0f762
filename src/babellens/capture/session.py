"""Install capture and intervention hooks on a model for the duration of a ``with`` block.

Plain PyTorch hooks: a forward pre-hook for points that live on a module's input, a forward hook
for points on its output. Within one point, interventions run first (in the order given), then
the capture sees the value that flows downstream. An optional stop hook on the last block any
point needs raises :class:`StopForward`, so the layers after it (and the unembedding) never run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from babellens.capture.experts import (
    MOE_KINDS,
    expert_activations,
    routing_weights,
    scaled_expert_activations,
)
from babellens.capture.hook_points import HookPoint, parse_hook_point
from babellens.capture.interventions import Intervention
from babellens.capture.reductions import Reduction
from babellens.capture.routed import ROUTED_ATTENTION_KINDS, install_routed
from babellens.capture.shared import (
    SHARED_KINDS,
    check_shared_point,
    install_mlp_out_beside,
    mlp_out_beside,
)
from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter import ModelAdapter

__all__ = ["HookSession", "StopForward"]


class StopForward(Exception):
    """Raised by the stop hook once every requested activation has been seen."""


class HookSession:
    """Context manager: ``with HookSession(adapter, capture=[...]) as s: model(...)``.

    ``s.activations[name]`` is a list with one tensor per forward pass seen (one for a plain
    forward, one per step under ``generate``). Set ``s.attention_mask`` before a pass so that
    reductions skip padding.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        capture: Iterable[str | HookPoint] = (),
        *,
        reduce: Reduction | Mapping[str, Reduction] | None = None,
        interventions: Iterable[Intervention] = (),
        stop_after_layer: int | None = None,
        detach_to_cpu: bool = False,
    ) -> None:
        self.adapter = adapter
        n = adapter.n_layers
        self.capture_points = sorted({parse_hook_point(p, n) for p in capture})
        self.interventions = [(parse_hook_point(i.point, n), i) for i in interventions]
        self._reduce = reduce
        self.stop_after_layer = (
            None if stop_after_layer is None else adapter.check_layer(stop_after_layer)
        )
        self.detach_to_cpu = detach_to_cpu
        self.attention_mask: torch.Tensor | None = None
        self.activations: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._handles: list[RemovableHandle] = []
        self._rows_shape: list[torch.Size] = []

    # ---- public ---------------------------------------------------------------------------
    @property
    def points(self) -> list[HookPoint]:
        return sorted({*self.capture_points, *(p for p, _ in self.interventions)})

    def reduction_for(self, point: HookPoint) -> Reduction | None:
        if self._reduce is None or callable(self._reduce):
            return self._reduce  # type: ignore[return-value]
        return self._reduce.get(point.name) or self._reduce.get(point.kind)

    def __enter__(self) -> HookSession:
        edits: dict[HookPoint, list[Intervention]] = defaultdict(list)
        for point, intervention in self.interventions:
            edits[point].append(intervention)
        capture = set(self.capture_points)
        try:
            if self.adapter.spec.flat_mlp or any(p.kind in SHARED_KINDS for p in self.points):
                self._record_block_shapes()  # shared experts often run on flattened rows
            for point in self.points:
                self._install(point, edits.get(point, []), point in capture)
            if self.stop_after_layer is not None:
                block = self.adapter.block(self.stop_after_layer)
                self._handles.append(block.register_forward_hook(_raise_stop))
        except Exception:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # ---- hooks ----------------------------------------------------------------------------
    def _record_block_shapes(self) -> None:
        """Families whose MLP runs on ``[batch * pos, d]`` rows: remember each block's
        ``[batch, pos]`` so MLP points keep their per-position shape."""

        def record(_m: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            x = args[0] if args else kwargs["hidden_states"]
            self._rows_shape[:] = [x.shape[:-1]]

        for point in self.points:
            block = self.adapter.block(point.layer)
            self._handles.append(block.register_forward_pre_hook(record, with_kwargs=True))

    def _install_moe(self, point: HookPoint, edits: list[Intervention]) -> None:
        """Capture-only points computed from what the experts module receives (and, for experts
        fed pre-scaled rows, from the scores their router returned just before)."""
        if edits:
            raise InvalidInputError(f"{point} can be captured, not intervened on")
        adapter = self.adapter
        experts, layout = adapter.experts(point.layer), adapter.experts_layout(point.layer)
        block = adapter.module(adapter.spec.mlp, point.layer)
        shape: list[torch.Size] = []
        scores: list[torch.Tensor] = []

        def block_hook(_m: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            x = args[0] if args else kwargs["hidden_states"]
            shape[:] = [x.shape[:-1]]

        def router_hook(_m: torch.nn.Module, _args: tuple, output: Any) -> None:
            scores[:] = [output[0] if isinstance(output, tuple) else output]

        def experts_hook(_m: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            inputs = (*args, *kwargs.values())
            if scores:  # Llama 4: inputs[0] is [n_experts * tokens, d] pre-scaled rows
                value = scores[0]
                if point.kind == "expert_post":
                    value = scaled_expert_activations(experts, inputs[0], value, layout)
            elif point.kind == "router_probs":
                value = routing_weights(inputs[1], inputs[2], adapter.n_experts)
            else:
                value = expert_activations(experts, inputs[0], inputs[1], layout)
            self.keep(point, value.reshape(*shape[0], *value.shape[1:]))

        self._handles.append(block.register_forward_pre_hook(block_hook, with_kwargs=True))
        if adapter.spec.experts_router:
            router = adapter.module(adapter.spec.experts_router, point.layer)
            self._handles.append(router.register_forward_hook(router_hook))
        self._handles.append(experts.register_forward_pre_hook(experts_hook, with_kwargs=True))

    def keep(self, point: HookPoint, value: torch.Tensor) -> None:
        """Store one captured value of ``point`` (reduced, if a reduction is set for it)."""
        reduction = self.reduction_for(point)
        kept = reduction(value, self.attention_mask) if reduction else value.detach().clone()
        self.activations[point.name].append(kept.cpu() if self.detach_to_cpu else kept)

    def _routed(self, point: HookPoint) -> bool:
        """A point of experts their module runs itself, or of routed attention heads (JetMoE)."""
        spec = self.adapter.spec
        if point.kind in MOE_KINDS:
            return spec.sorted_experts is not None
        return spec.routed_attention is not None and point.kind in ROUTED_ATTENTION_KINDS

    def _install(self, point: HookPoint, edits: list[Intervention], capture: bool) -> None:
        if self._routed(point):
            keep = self.keep if capture else None
            self._handles.extend(install_routed(self.adapter, point, edits, keep))
            return
        if point.kind in MOE_KINDS:
            self._install_moe(point, edits)
            return
        self._check_available(point)
        info = point.info
        module = self.adapter.module(info.template(self.adapter.spec), point.layer)
        if point.kind == "mlp_pre":
            self._check_unshared(info.template(self.adapter.spec), module)
        process = self._processor(point, edits, capture)
        if point.kind == "mlp_out" and mlp_out_beside(self.adapter, point.layer):
            self._handles.extend(install_mlp_out_beside(self.adapter, point.layer, process))
            return
        if info.side_for(self.adapter.spec) == "input":

            def pre_hook(_m: torch.nn.Module, args: tuple, kwargs: dict) -> Any:
                if args:
                    new = process(args[0])
                    return None if new is None else ((new, *args[1:]), kwargs)
                new = process(kwargs["hidden_states"])
                return None if new is None else (args, {**kwargs, "hidden_states": new})

            self._handles.append(module.register_forward_pre_hook(pre_hook, with_kwargs=True))
        else:
            self._install_output(point, module, process)

    def _check_available(self, point: HookPoint) -> None:
        """Refuse, in one line, neuron points a layer does not have: dense MLP neurons on a
        mixture-of-experts layer, shared-expert neurons where it has no shared expert."""
        if point.kind in ("mlp_pre", "mlp_post") and self.adapter.is_moe_layer(point.layer):
            raise InvalidInputError(
                f"{point} is unavailable: layer {point.layer} is a mixture-of-experts layer; "
                f"capture expert_post.{point.layer} and router_probs.{point.layer}"
                + (
                    f" (its shared expert: shared_post.{point.layer})"
                    if self.adapter.has_shared_expert(point.layer)
                    else ""
                )
            )
        if point.kind in SHARED_KINDS:
            check_shared_point(self.adapter, point)

    def _install_output(self, point: HookPoint, module: torch.nn.Module, process: Callable) -> None:
        """A forward hook that reads (and may replace) the tensor in the module's output."""
        index = point.info.output_index
        fold = point.kind == "attn_out" and self.adapter.spec.attn_returned_bias is not None

        def hook(_m: torch.nn.Module, _args: tuple, output: Any) -> Any:
            is_tuple = isinstance(output, tuple | list)  # GPT-1's blocks return a list
            if fold and output[2] is not None:  # the bias the block would add: into attn_out
                output = (output[0] + output[2], output[1], None)
            value = output[index] if is_tuple else output
            if value is None:
                raise InvalidInputError(f"{point} is unavailable: capture it with eager attention")
            new = process(value)
            if new is None:
                return output if fold else None
            if not is_tuple:
                return new
            rebuilt = (*output[:index], new, *output[index + 1 :])
            return list(rebuilt) if isinstance(output, list) else rebuilt

        self._handles.append(module.register_forward_hook(hook))

    def _processor(self, point: HookPoint, edits: list[Intervention], capture: bool):
        split = point.info.split_heads
        a = self.adapter
        n_heads, head_dim = (a.heads_at(point.layer), a.head_dim) if split else (0, 0)
        reduction = self.reduction_for(point) if capture else None

        def process(x: torch.Tensor) -> torch.Tensor | None:
            if split:
                view = x.view(*x.shape[:-1], n_heads, head_dim)
            elif x.dim() == 2 and self._rows_shape:  # an MLP on flattened [batch * pos] rows
                view = x.view(*self._rows_shape[-1], x.shape[-1])
            else:
                view = x
            edited = view
            for edit in edits:
                edited = edit.apply(edited, point.kind)
            if capture:
                kept = (
                    reduction(edited, self.attention_mask) if reduction else edited.detach().clone()
                )
                self.activations[point.name].append(kept.cpu() if self.detach_to_cpu else kept)
            if edited is view:
                return None
            return edited.reshape(x.shape) if view is not x else edited

        return process

    def _check_unshared(self, template: str, module: torch.nn.Module) -> None:
        layers = [i for i in range(self.adapter.n_layers) if not self.adapter.is_moe_layer(i)]
        if sum(self.adapter.module(template, layer) is module for layer in layers) > 1:
            raise InvalidInputError(
                "mlp_pre is unavailable for this model: its activation module is shared across layers"
            )


def _raise_stop(_module: torch.nn.Module, _args: tuple, _output: Any) -> None:
    raise StopForward
