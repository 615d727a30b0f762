"""Which neurons a run analyses: next-token neurons per layer, and a seeded random baseline."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from babellens.analyses.next_token_neurons import NextTokenNeuron

__all__ = ["NeuronTarget", "is_next_token_neuron", "select_neurons"]


class NeuronTarget(BaseModel):
    group: Literal["next_token", "random"]
    layer: int
    neuron: int
    token_id: int
    token: str
    congruence: float


def is_next_token_neuron(n: NextTokenNeuron, whole_words: bool = True) -> bool:
    """Its top token (over the whole vocabulary) passes the whole-word filter (if asked)."""
    if not whole_words:
        return bool(n.promoted)
    return bool(n.word_token and n.promoted and n.word_token.token_id == n.promoted[0].token_id)


def _target(
    n: NextTokenNeuron, group: Literal["next_token", "random"], whole_words: bool
) -> NeuronTarget:
    """The neuron with the token it promotes most: its best whole word (when words are asked
    for and it has one), else its best token."""
    best = (n.word_token if whole_words else None) or n.promoted[0]
    return NeuronTarget(
        group=group,
        layer=n.layer,
        neuron=n.neuron,
        token_id=best.token_id,
        token=best.token,
        congruence=best.score,
    )


def select_neurons(
    neurons: Sequence[NextTokenNeuron],
    layers: Sequence[int],
    per_layer: int,
    n_random: int,
    seed: int = 0,
    *,
    whole_words: bool = True,
) -> list[NeuronTarget]:
    """Per layer: the ``per_layer`` next-token neurons of highest congruence, then ``n_random``
    other neurons of the same layer drawn with ``seed`` (the baseline)."""
    rng = random.Random(seed)
    chosen: list[NeuronTarget] = []
    baseline: list[NeuronTarget] = []
    for layer in layers:
        pool = sorted((n for n in neurons if n.layer == layer), key=lambda n: n.neuron)
        ranked = sorted(
            (n for n in pool if is_next_token_neuron(n, whole_words)),
            key=lambda n: (-n.score, n.neuron),
        )
        top = ranked[:per_layer]
        picked = {n.neuron for n in top}
        rest = [n for n in pool if n.neuron not in picked and n.promoted]
        drawn = sorted(rng.sample(rest, min(n_random, len(rest))), key=lambda n: n.neuron)
        chosen.extend(_target(n, "next_token", whole_words) for n in top)
        baseline.extend(_target(n, "random", whole_words) for n in drawn)
    return chosen + baseline
