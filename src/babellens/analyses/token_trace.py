"""Per-token neuron activations for one prompt: the live query behind ``babellens trace``."""

from __future__ import annotations

import torch
from pydantic import BaseModel

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError

__all__ = [
    "NeuronActivation",
    "NeuronTrace",
    "TopNeuronsTrace",
    "trace_neuron",
    "trace_top_neurons",
]

MAX_PROMPT_TOKENS = 2048


class NeuronTrace(BaseModel):
    model: str
    layer: int
    neuron: int
    tokens: list[str]
    activations: list[float]


class NeuronActivation(BaseModel):
    neuron: int
    activation: float


class TopNeuronsTrace(BaseModel):
    model: str
    layer: int
    k: int
    tokens: list[str]
    activations: list[list[NeuronActivation]]


def _mlp_post(lm: LanguageModel, text: str, layer: int) -> tuple[list[str], torch.Tensor]:
    lm.adapter.check_layer(layer)
    enc = lm.tokenize(text)
    if enc["input_ids"].shape[1] > MAX_PROMPT_TOKENS:
        raise InvalidInputError(f"the prompt is longer than {MAX_PROMPT_TOKENS} tokens: shorten it")
    point = f"mlp_post.{layer}"
    acts = lm.run(enc, capture=[point])[point][0].float().cpu()
    return lm.token_strings(enc["input_ids"][0].tolist()), acts


def trace_neuron(lm: LanguageModel, text: str, layer: int, neuron: int) -> NeuronTrace:
    """The activation of ``mlp_post.layer[neuron]`` at every token of ``text``."""
    lm.adapter.check_layer(layer)
    lm.adapter.check_neuron(neuron)
    tokens, acts = _mlp_post(lm, text, layer)
    return NeuronTrace(
        model=lm.name,
        layer=layer,
        neuron=neuron,
        tokens=tokens,
        activations=acts[:, neuron].tolist(),
    )


def trace_top_neurons(lm: LanguageModel, text: str, layer: int, k: int = 5) -> TopNeuronsTrace:
    """At every token, the ``k`` neurons of ``layer`` with the highest activation."""
    if not 1 <= k <= lm.adapter.d_mlp:
        raise InvalidInputError(f"k must be between 1 and {lm.adapter.d_mlp}, got {k}")
    tokens, acts = _mlp_post(lm, text, layer)
    values, indices = acts.topk(k, dim=-1)
    rows = [
        [NeuronActivation(neuron=int(i), activation=float(v)) for v, i in zip(vs, ix, strict=True)]
        for vs, ix in zip(values.tolist(), indices.tolist(), strict=True)
    ]
    return TopNeuronsTrace(model=lm.name, layer=layer, k=k, tokens=tokens, activations=rows)
