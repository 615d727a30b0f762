"""One forward pass with captures and interventions, doing no more work than asked for.

This is the one forward API: ``LanguageModel.run`` calls it, and every analysis goes through
``lm.run`` (with its own module hooks around it where it needs them, as the attribution graphs
do). Without ``logits=True`` the pass runs the decoder only (never the unembedding) and stops
after the last block any hook point needs. Capturing ``attn_pattern`` (or ``eager=True``)
switches the model to eager attention for that pass, since fused kernels never materialise the
pattern. ``grad`` says what autograd may see: nothing (``"inference"``, the default and the
fastest), plain tensors that a later autograd pass may use (``"no_grad"``), or the graph itself
(``"grad"``, for gradient probes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch

from babellens.capture.hook_points import HookPoint, parse_hook_point
from babellens.capture.interventions import Intervention
from babellens.capture.reductions import Reduction
from babellens.capture.session import HookSession, StopForward
from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter import ModelAdapter

if TYPE_CHECKING:  # language_model imports this module: its class is only an annotation here
    from babellens.capture.language_model import LanguageModel

__all__ = ["GradMode", "RunResult", "eager_attention", "run_with_hooks"]

GradMode = Literal["inference", "no_grad", "grad"]


@dataclass
class RunResult:
    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: torch.Tensor | None = None
    final_hidden: torch.Tensor | None = None
    """The decoder's output (after the final norm) ``[batch, pos, d_model]``, when asked for."""

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.activations[name]


@contextmanager
def eager_attention(model: torch.nn.Module, needed: bool = True) -> Iterator[None]:
    """Temporarily use eager attention (so attention weights exist)."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if not needed or current in (None, "eager"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(current)


def _last_layer(adapter: ModelAdapter, points: Iterable[HookPoint]) -> int | None:
    layers = [p.layer for p in points]
    if not layers:
        return None
    last = max(layers)
    return last if last < adapter.n_layers - 1 else None


def _grad_context(grad: GradMode) -> AbstractContextManager[object]:
    if grad == "inference":
        return torch.inference_mode()
    if grad == "no_grad":
        return torch.no_grad()
    if grad == "grad":
        return torch.enable_grad()
    raise InvalidInputError(f"unknown grad mode {grad!r}: use inference, no_grad or grad")


def run_with_hooks(
    lm: LanguageModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    capture: Iterable[str | HookPoint] = (),
    reduce: Reduction | Mapping[str, Reduction] | None = None,
    interventions: Iterable[Intervention] = (),
    logits: bool = False,
    final_hidden: bool = False,
    eager: bool = False,
    grad: GradMode = "inference",
) -> RunResult:
    """Run ``input_ids`` ([batch, pos], right-padded) once and return what was asked for."""
    if logits and final_hidden:
        raise InvalidInputError("ask for logits or for the final hidden state, not both")
    adapter = lm.adapter
    capture = [parse_hook_point(p, adapter.n_layers) for p in capture]
    interventions = list(interventions)
    stop = None if logits or final_hidden else _last_layer(adapter, capture)
    session = HookSession(
        adapter, capture, reduce=reduce, interventions=interventions, stop_after_layer=stop
    )
    device = lm.device
    input_ids = input_ids.to(device)
    attention_mask = attention_mask.to(device) if attention_mask is not None else None
    session.attention_mask = attention_mask
    needs_eager = eager or any(p.kind == "attn_pattern" for p in session.points)
    result = RunResult()
    with _grad_context(grad), eager_attention(lm.model, needs_eager), session:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}
        if logits:
            result.logits = lm.model(**kwargs).logits
        elif final_hidden:
            result.final_hidden = adapter.decoder(**kwargs).last_hidden_state
        else:
            with suppress(StopForward):
                adapter.decoder(**kwargs)
    result.activations = {name: values[-1] for name, values in session.activations.items()}
    return result
