"""One forward pass with captures and interventions, doing no more work than asked for.

Without ``logits=True`` the pass runs the decoder only (never the unembedding) and stops after the
last block any hook point needs. Capturing ``attn_pattern`` switches the model to eager attention
for that pass, since fused kernels never materialise the pattern.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from babellens.capture.hook_points import HookPoint, parse_hook_point
from babellens.capture.interventions import Intervention
from babellens.capture.reductions import Reduction
from babellens.capture.session import HookSession, StopForward
from babellens.models.adapters.adapter import ModelAdapter

if TYPE_CHECKING:
    from babellens.models.language_model import LanguageModel

__all__ = ["RunResult", "eager_attention", "run_with_hooks"]


@dataclass
class RunResult:
    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: torch.Tensor | None = None

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


def run_with_hooks(
    lm: LanguageModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    capture: Iterable[str | HookPoint] = (),
    reduce: Reduction | Mapping[str, Reduction] | None = None,
    interventions: Iterable[Intervention] = (),
    logits: bool = False,
) -> RunResult:
    """Run ``input_ids`` ([batch, pos], right-padded) once and return what was asked for."""
    adapter = lm.adapter
    capture = [parse_hook_point(p, adapter.n_layers) for p in capture]
    interventions = list(interventions)
    stop = None if logits else _last_layer(adapter, capture)
    session = HookSession(
        adapter, capture, reduce=reduce, interventions=interventions, stop_after_layer=stop
    )
    device = lm.device
    input_ids = input_ids.to(device)
    attention_mask = attention_mask.to(device) if attention_mask is not None else None
    session.attention_mask = attention_mask
    needs_eager = any(p.kind == "attn_pattern" for p in session.points)
    result = RunResult()
    with torch.inference_mode(), eager_attention(lm.model, needs_eager), session:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}
        if logits:
            result.logits = lm.model(**kwargs).logits
        else:
            with suppress(StopForward):
                adapter.decoder(**kwargs)
    result.activations = {name: values[-1] for name, values in session.activations.items()}
    return result
