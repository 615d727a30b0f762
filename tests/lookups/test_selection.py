"""Choosing the neurons: top next-token neurons by congruence per layer, and a seeded baseline."""

from __future__ import annotations

from babellens.analyses.next_token_neurons import NextTokenNeuron, TokenScore
from babellens.lookups.config import LookupsConfig, default_layers
from babellens.lookups.selection import select_neurons


def _n(layer: int, neuron: int, score: float, top: int, word: int | None) -> NextTokenNeuron:
    word_token = (
        TokenScore(token_id=word, token=f" w{word}", score=score - (top != word))
        if word is not None
        else None
    )
    return NextTokenNeuron(
        layer=layer,
        neuron=neuron,
        score=score,
        word_score=word_token.score if word_token else -1.0,
        word_token=word_token,
        promoted=[TokenScore(token_id=top, token=f"t{top}", score=score)],
        suppressed=[],
    )


NEURONS = [
    _n(1, 0, 5.0, top=7, word=7),  # next-token neuron
    _n(1, 1, 9.0, top=8, word=3),  # highest score, but its top token is no word
    _n(1, 2, 4.0, top=9, word=9),
    _n(1, 3, 6.0, top=4, word=4),
    _n(1, 4, 1.0, top=2, word=None),
    _n(2, 0, 2.0, top=5, word=5),
    _n(2, 1, 3.0, top=6, word=6),
]


def test_next_token_neurons_rank_by_congruence_among_word_tokens():
    chosen = select_neurons(NEURONS, [1, 2], per_layer=2, n_random=0)
    assert [(t.layer, t.neuron) for t in chosen] == [(1, 3), (1, 0), (2, 1), (2, 0)]
    assert all(t.group == "next_token" for t in chosen)
    assert (chosen[0].token_id, chosen[0].token, chosen[0].congruence) == (4, " w4", 6.0)
    loose = select_neurons(NEURONS, [1], per_layer=1, n_random=0, whole_words=False)
    assert [(t.neuron, t.token_id) for t in loose] == [(1, 8)]  # without the filter: the top token


def test_random_baseline_is_seeded_and_excludes_the_chosen():
    a = select_neurons(NEURONS, [1], per_layer=2, n_random=2, seed=3)
    b = select_neurons(NEURONS, [1], per_layer=2, n_random=2, seed=3)
    assert a == b
    random = [t for t in a if t.group == "random"]
    assert len(random) == 2 and {t.neuron for t in random} <= {1, 2, 4}
    for t in random:  # a random neuron's token is its best whole word, else its best token
        assert t.token_id == {1: 3, 2: 9, 4: 2}[t.neuron]
    every = {
        frozenset(
            t.neuron for t in select_neurons(NEURONS, [1], 2, 2, seed=s) if t.group == "random"
        )
        for s in range(20)
    }
    assert len(every) > 1  # the seed matters


def test_default_layers_are_the_last_quarter():
    config = LookupsConfig()
    assert default_layers(30, config) == list(range(22, 30))  # smollm2: 30 layers -> 8
    assert default_layers(18, config) == list(
        range(13, 18)
    )  # gemma3-270m: 18 layers -> 5 (4.5 rounded up)
    assert default_layers(3, config) == [2]
    assert default_layers(1, config) == []  # a neuron in layer 0 has no heads below it
    assert default_layers(30, LookupsConfig(layers=[29, 28, 29])) == [28, 29]
