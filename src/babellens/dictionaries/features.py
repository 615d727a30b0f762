"""A dictionary's features as units: their output direction, the tokens it promotes, steering.

A feature's output direction is its decoder row. Read through the final norm and the unembedding
(the same folding the next-token neurons use for an MLP neuron's ``W_out`` row) it gives the
tokens the feature promotes and suppresses; added at the dictionary's output hook point during
generation it steers the model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import BaseModel

from babellens.analyses.next_token_neurons import TokenScore, congruence_extremes, final_norm_scale
from babellens.capture.interventions import add
from babellens.capture.language_model import LanguageModel
from babellens.dictionaries.model import SparseDictionary
from babellens.errors import InvalidInputError

__all__ = [
    "FeatureTokens",
    "MemberTokens",
    "TokenFeatures",
    "all_feature_tokens",
    "check_feature",
    "check_model_width",
    "feature_direction",
    "feature_tokens",
    "steer_feature",
    "top_features_per_token",
]


class FeatureTokens(BaseModel):
    promoted: list[TokenScore]
    suppressed: list[TokenScore]


def check_feature(sd: SparseDictionary, index: int) -> int:
    if not 0 <= index < sd.width:
        raise InvalidInputError(
            f"feature {index} is out of range: this dictionary has features 0..{sd.width - 1}"
        )
    return index


def check_model_width(sd: SparseDictionary, lm: LanguageModel) -> None:
    """A dictionary trained for another model's width is refused in one line."""
    if sd.d_in != lm.adapter.d_model or sd.d_out != lm.adapter.d_model:
        raise InvalidInputError(
            f"this dictionary reads width {sd.d_in} and writes {sd.d_out}, but {lm.name} has "
            f"d_model {lm.adapter.d_model}: it was made for another model"
        )


def feature_direction(sd: SparseDictionary, index: int) -> torch.Tensor:
    """The feature's decoder row [d_out]: what one unit of its activation adds at hook_out."""
    return sd.W_dec[check_feature(sd, index)].detach().clone()


def feature_tokens(
    lm: LanguageModel, sd: SparseDictionary, index: int, n: int = 10
) -> FeatureTokens:
    """Promoted and suppressed tokens of the decoder direction through the final norm and W_U."""
    check_model_width(sd, lm)
    a = lm.adapter
    direction = feature_direction(sd, index).to(a.w_u.device).float()[None]
    gamma, centres = final_norm_scale(a)
    if centres:
        direction = direction - direction.mean(dim=1, keepdim=True)
    ext = congruence_extremes(direction * gamma, a.w_u, n, 16384)
    ext = {k: v.cpu().tolist() for k, v in ext.items()}

    def scores(values: list[float], ids: list[int]) -> list[TokenScore]:
        return [
            TokenScore(token_id=i, token=lm.tokenizer.decode([i]), score=v)
            for v, i in zip(values, ids, strict=True)
        ]

    return FeatureTokens(
        promoted=scores(ext["top_values"][0], ext["top_ids"][0]),
        suppressed=scores(ext["bottom_values"][0], ext["bottom_ids"][0]),
    )


def steer_feature(
    lm: LanguageModel,
    sd: SparseDictionary,
    index: int,
    prompts: str | Sequence[str],
    coefficient: float,
    *,
    max_new_tokens: int = 40,
) -> list[str]:
    """Continuations with ``coefficient ×`` the feature's decoder direction added at hook_out."""
    from babellens.steering.apply import generate

    check_model_width(sd, lm)
    direction = feature_direction(sd, index).to(lm.device, lm.dtype)
    edits = [add(sd.hook_out, coefficient * direction)]
    return generate(lm, prompts, max_new_tokens=max_new_tokens, interventions=edits)


class MemberTokens(BaseModel):
    """Per feature of one member: the ids and scores of its top promoted and suppressed tokens."""

    hook_in: str
    top_ids: list[list[int]]
    top_values: list[list[float]]
    bottom_ids: list[list[int]]
    bottom_values: list[list[float]]


def all_feature_tokens(lm: LanguageModel, sd: SparseDictionary, n: int = 10) -> MemberTokens:
    """:func:`feature_tokens` for every feature at once (one chunked matmul over the vocabulary)."""
    check_model_width(sd, lm)
    a = lm.adapter
    directions = sd.W_dec.detach().to(a.w_u.device).float()
    gamma, centres = final_norm_scale(a)
    if centres:
        directions = directions - directions.mean(dim=1, keepdim=True)
    ext = congruence_extremes(directions * gamma, a.w_u, n, 16384)
    ext = {k: v.cpu().tolist() for k, v in ext.items()}
    return MemberTokens(
        hook_in=sd.hook_in,
        top_ids=ext["top_ids"],
        top_values=ext["top_values"],
        bottom_ids=ext["bottom_ids"],
        bottom_values=ext["bottom_values"],
    )


class TokenFeatures(BaseModel):
    position: int
    token: str
    features: list[tuple[int, float]]
    """(feature index, activation), strongest first; only active features."""


def top_features_per_token(
    lm: LanguageModel, sd: SparseDictionary, text: str, n: int = 5
) -> list[TokenFeatures]:
    """The live "type a prompt" view: at every token the most active features."""
    check_model_width(sd, lm)
    enc = lm.tokenize(text)
    out = lm.run(enc, capture=[sd.hook_in])
    with torch.no_grad():
        acts = sd.encode(out[sd.hook_in][0].float().clone())
    values, indices = acts.topk(min(n, sd.width), dim=-1)
    ids = enc["input_ids"][0].tolist()
    pieces = lm.token_strings(ids)
    return [
        TokenFeatures(
            position=p,
            token=pieces[p],
            features=[
                (int(i), float(v))
                for v, i in zip(values[p].tolist(), indices[p].tolist(), strict=True)
                if v > 0
            ],
        )
        for p in range(len(ids))
    ]
