"""Per-token activations of mixture-of-experts units ``(expert, neuron)`` for one prompt.

A token has activations only in the experts the router sent it to: a unit of another expert has
no value there (``None``), which is not zero. Each reported activation stands beside the routing
weight its expert got at that token, since that weight scales what the unit writes.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError

__all__ = [
    "ExpertNeuronActivation",
    "ExpertNeuronTrace",
    "TopExpertNeuronsTrace",
    "trace_expert_neuron",
    "trace_top_expert_neurons",
]

MAX_PROMPT_TOKENS = 2048


class ExpertNeuronTrace(BaseModel):
    model: str
    layer: int
    expert: int
    neuron: int
    tokens: list[str]
    activations: list[float | None]
    """``None`` where the router did not send the token to this expert."""
    routing_weights: list[float]


class ExpertNeuronActivation(BaseModel):
    expert: int
    neuron: int
    activation: float
    routing_weight: float


class TopExpertNeuronsTrace(BaseModel):
    model: str
    layer: int
    k: int
    tokens: list[str]
    activations: list[list[ExpertNeuronActivation]]
    """Per token, the ``k`` most active units among the experts it was routed to."""


def _expert_post(lm: LanguageModel, text: str, layer: int):
    lm.adapter.experts(layer)  # a one-line error for dense layers
    enc = lm.tokenize(text)
    if enc["input_ids"].shape[1] > MAX_PROMPT_TOKENS:
        raise InvalidInputError(f"the prompt is longer than {MAX_PROMPT_TOKENS} tokens: shorten it")
    points = [f"expert_post.{layer}", f"router_probs.{layer}"]
    out = lm.run(enc, capture=points)
    tokens = lm.token_strings(enc["input_ids"][0].tolist())
    return tokens, out[points[0]][0].float().cpu(), out[points[1]][0].float().cpu()


def trace_expert_neuron(
    lm: LanguageModel, text: str, layer: int, expert: int, neuron: int
) -> ExpertNeuronTrace:
    """The activation of unit ``(expert, neuron)`` at every token (``None`` where not routed)."""
    a = lm.adapter
    if not 0 <= expert < a.n_experts or not 0 <= neuron < a.d_expert:
        raise InvalidInputError(
            f"unit ({expert}, {neuron}) is out of range: experts 0..{a.n_experts - 1}, "
            f"neurons 0..{a.d_expert - 1}"
        )
    tokens, post, weights = _expert_post(lm, text, layer)
    values = post[:, expert, neuron]
    return ExpertNeuronTrace(
        model=lm.name,
        layer=layer,
        expert=expert,
        neuron=neuron,
        tokens=tokens,
        activations=[None if torch.isnan(v) else float(v) for v in values],
        routing_weights=weights[:, expert].tolist(),
    )


def trace_top_expert_neurons(
    lm: LanguageModel, text: str, layer: int, k: int = 5
) -> TopExpertNeuronsTrace:
    """At every token, the ``k`` most active units of the experts that token was routed to."""
    a = lm.adapter
    tokens, post, weights = _expert_post(lm, text, layer)
    if not 1 <= k <= a.d_expert:
        raise InvalidInputError(f"k must be between 1 and {a.d_expert}, got {k}")
    flat = post.nan_to_num(float("-inf")).reshape(post.shape[0], -1)
    values, indices = flat.topk(k, dim=-1)
    rows = []
    for token_values, token_indices, token_weights in zip(values, indices, weights, strict=True):
        row = []
        for value, index in zip(token_values.tolist(), token_indices.tolist(), strict=True):
            expert, neuron = divmod(index, a.d_expert)
            weight = float(token_weights[expert])
            row.append(
                ExpertNeuronActivation(
                    expert=expert, neuron=neuron, activation=value, routing_weight=weight
                )
            )
        rows.append(row)
    return TopExpertNeuronsTrace(model=lm.name, layer=layer, k=k, tokens=tokens, activations=rows)
