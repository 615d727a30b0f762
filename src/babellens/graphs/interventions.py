"""Switch features off or scale them, and read the next-token change in two models.

The replacement model keeps attention patterns, norm scales and error nodes at their clean
values while every transcoder recomputes its features from what reaches it; the real model
runs live and only has, at each chosen (layer, position), the chosen feature's decoder
contribution scaled. Side by side, they show how far the graph's story holds in the real model.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from babellens.graphs.frozen import FrozenReplacement
from babellens.graphs.transcoders import TranscoderSet

__all__ = ["FeatureEdit", "InterventionResult", "NextToken", "intervene"]


class FeatureEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: int = Field(ge=0)
    pos: int = Field(ge=0)
    feature: int = Field(ge=0)
    scale: float = Field(0.0, ge=-100, le=100, description="0 switches the feature off")


class NextToken(BaseModel):
    token_id: int
    token: str
    probability: float


class InterventionResult(BaseModel):
    edits: list[FeatureEdit]
    replacement_before: list[NextToken]
    replacement_after: list[NextToken]
    real_before: list[NextToken]
    real_after: list[NextToken]


def _top(lm: LanguageModel, logits: torch.Tensor, k: int) -> list[NextToken]:
    probs = torch.softmax(logits.double(), dim=-1)
    top = probs.topk(k)
    names = lm.token_strings(top.indices.tolist()) if lm.tokenizer is not None else None
    return [
        NextToken(token_id=int(i), token=names[n] if names else str(int(i)), probability=float(p))
        for n, (i, p) in enumerate(zip(top.indices, top.values, strict=True))
    ]


def _scales(fr: FrozenReplacement, edits: list[FeatureEdit]) -> dict[int, torch.Tensor]:
    scales: dict[int, torch.Tensor] = {}
    for edit in edits:
        tc = fr.transcoders.get(edit.layer)
        if tc is None or edit.pos >= fr.n_pos or edit.feature >= tc.width:
            raise InvalidInputError(
                f"no feature {edit.layer}/{edit.feature} at position {edit.pos} in this prompt"
            )
        scale = scales.setdefault(edit.layer, torch.ones(fr.n_pos, tc.width))
        scale[edit.pos, edit.feature] = edit.scale
    return scales


def intervene(
    lm: LanguageModel,
    transcoders: TranscoderSet,
    input_ids: torch.Tensor,
    edits: list[FeatureEdit],
    top: int = 5,
) -> InterventionResult:
    fr = FrozenReplacement(lm, transcoders, input_ids)
    scales = _scales(fr, edits)
    with torch.no_grad():
        before = fr.logits(fr.run(features=fr.live_features()).final_hidden)[0, -1]
        after = fr.logits(fr.run(features=fr.live_features(scales)).final_hidden)[0, -1]
        real_after = _real_logits(lm, transcoders, fr, scales)
    return InterventionResult(
        edits=edits,
        replacement_before=_top(lm, before, top),
        replacement_after=_top(lm, after, top),
        real_before=_top(lm, fr.clean.logits[-1], top),
        real_after=_top(lm, real_after, top),
    )


def _real_logits(
    lm: LanguageModel,
    transcoders: TranscoderSet,
    fr: FrozenReplacement,
    scales: dict[int, torch.Tensor],
) -> torch.Tensor:
    """The live model with each edited feature's decoder contribution scaled in its MLP output."""
    handles = []
    for layer, scale in scales.items():
        tc = transcoders[layer]

        def hook(module, args, out, tc=tc, scale=scale):
            f = tc.encode(args[0].to(tc.W_enc.dtype))
            delta = (f * (scale.to(f) - 1)) @ tc.W_dec
            return out + delta.to(out.dtype)

        handles.append(fr.adapter.module(fr.adapter.spec.mlp, layer).register_forward_hook(hook))
    try:
        # eager: the same kernels as the clean pass it is compared to
        ids = fr.clean.input_ids.unsqueeze(0)
        return lm.run(ids, logits=True, eager=True).logits[0, -1]  # type: ignore[index]
    finally:
        for handle in handles:
            handle.remove()
