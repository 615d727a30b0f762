"""Per-token neuron activations for one prompt: the live query behind ``babellens trace``.

On a mixture-of-experts layer the units are its (expert, neuron) pairs, then its shared expert's
neurons, numbered as the scan numbers them (:mod:`~babellens.analyses.neuron_scan.expert_units`);
a routed unit has no activation (None) at a token the router sent elsewhere, and the top units of
a token are among the experts it was routed to and the shared expert.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError

__all__ = [
    "NeuronActivation",
    "NeuronTrace",
    "TopNeuronsTrace",
    "layer_units",
    "trace_neuron",
    "trace_top_neurons",
]

MAX_PROMPT_TOKENS = 2048


class NeuronTrace(BaseModel):
    model: str
    layer: int
    neuron: int
    tokens: list[str]
    activations: list[float | None]
    """``None`` where the router did not send the token to the unit's expert (MoE layers)."""


class NeuronActivation(BaseModel):
    neuron: int
    activation: float


class TopNeuronsTrace(BaseModel):
    model: str
    layer: int
    k: int
    tokens: list[str]
    activations: list[list[NeuronActivation]]


def layer_units(lm: LanguageModel, layer: int) -> int:
    """How many units ``layer`` has: its MLP neurons, or an MoE layer's experts × neurons."""
    a = lm.adapter
    a.check_layer(layer)
    if not a.is_moe_layer(layer):
        return a.d_mlp
    return a.n_experts * a.d_expert + (a.d_shared(layer) if a.has_shared_expert(layer) else 0)


def _unit_acts(lm: LanguageModel, text: str, layer: int) -> tuple[list[str], torch.Tensor]:
    """Tokens and ``[pos, units]`` float32 activations (NaN: not routed to the unit's expert)."""
    enc = lm.tokenize(text)
    if enc["input_ids"].shape[1] > MAX_PROMPT_TOKENS:
        raise InvalidInputError(f"the prompt is longer than {MAX_PROMPT_TOKENS} tokens: shorten it")
    a = lm.adapter
    kinds = ["mlp_post"]
    if a.is_moe_layer(layer):
        kinds = ["expert_post", "shared_post"] if a.has_shared_expert(layer) else ["expert_post"]
    points = [f"{kind}.{layer}" for kind in kinds]
    out = lm.run(enc, capture=points)
    parts = [out[p][0].float().cpu() for p in points]
    acts = torch.cat([part.reshape(part.shape[0], -1) for part in parts], dim=1)
    return lm.token_strings(enc["input_ids"][0].tolist()), acts


def trace_neuron(lm: LanguageModel, text: str, layer: int, neuron: int) -> NeuronTrace:
    """The activation of unit ``neuron`` of ``layer`` (``mlp_post``, or an expert unit of a
    mixture-of-experts layer) at every token of ``text``."""
    units = layer_units(lm, layer)
    if not 0 <= neuron < units:
        raise InvalidInputError(
            f"neuron {neuron} is out of range: layer {layer} has units 0..{units - 1}"
        )
    tokens, acts = _unit_acts(lm, text, layer)
    column = acts[:, neuron].tolist()
    return NeuronTrace(
        model=lm.name,
        layer=layer,
        neuron=neuron,
        tokens=tokens,
        activations=[None if v != v else v for v in column],
    )


def trace_top_neurons(lm: LanguageModel, text: str, layer: int, k: int = 5) -> TopNeuronsTrace:
    """At every token, the ``k`` units of ``layer`` with the highest activation (on an MoE
    layer, among the experts the token was routed to; fewer where those have fewer units)."""
    units = layer_units(lm, layer)
    if not 1 <= k <= units:
        raise InvalidInputError(f"k must be between 1 and {units}, got {k}")
    tokens, acts = _unit_acts(lm, text, layer)
    values, indices = acts.nan_to_num(float("-inf")).topk(k, dim=-1)
    rows = [
        [
            NeuronActivation(neuron=int(i), activation=float(v))
            for v, i in zip(vs, ix, strict=True)
            if v != float("-inf")
        ]
        for vs, ix in zip(values.tolist(), indices.tolist(), strict=True)
    ]
    return TopNeuronsTrace(model=lm.name, layer=layer, k=k, tokens=tokens, activations=rows)
