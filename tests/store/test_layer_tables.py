"""The layer tables the model and layer pages read: totals, a sorted page, promoted tokens."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.next_token_neurons import NextTokenNeuron, TokenScore
from babellens.store import JobStore, LayerScan, ResultStore, open_database
from babellens.store.layer_tables import (
    congruent_layers,
    layer_listing,
    layer_totals,
    promoted_tokens,
)


def _scan(maxes: list[float], density: list[float]) -> LayerScan:
    n = len(maxes)
    return LayerScan(
        act_max=torch.tensor(maxes),
        mean=torch.tensor([m / 2 for m in maxes], dtype=torch.float64),
        density=torch.tensor(density, dtype=torch.float64),
        hist=torch.zeros(n, 4, dtype=torch.long),
        top_values=torch.full((n, 1), float("-inf")),
        top_windows=torch.full((n, 1), -1),
        top_positions=torch.full((n, 1), -1),
        top_acts=torch.zeros(n, 1, 2, dtype=torch.float16),
    )


@pytest.fixture
def stored(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    jobs, results = JobStore(db), ResultStore(db)
    scan, tokens = jobs.create("scan", "m", {}), jobs.create("next_token_neurons", "m", {})
    results.save_layer(scan.id, 0, _scan([3.0, -1.0, 0.0], [0.5, 0.0, 0.25]))
    results.save_layer(scan.id, 1, _scan([2.0, 4.0], [1.0, 0.5]))
    word = TokenScore(token=" Paris", token_id=7, score=2.5)
    neurons = [
        NextTokenNeuron(
            layer=1,
            neuron=1,
            score=3.0,
            word_score=2.5,
            word_token=word,
            promoted=[word],
            suppressed=[],
        ),
        NextTokenNeuron(
            layer=1,
            neuron=0,
            score=1.0,
            word_score=float("-inf"),
            word_token=None,
            promoted=[],
            suppressed=[],
        ),
    ]
    results.save_token_neurons(tokens.id, neurons)
    return db, scan.id, tokens.id


def test_totals_per_layer_against_a_hand_count(stored):
    db, scan, tokens = stored
    totals = layer_totals(db, scan)
    assert [(t.layer, t.neurons, t.dead) for t in totals] == [(0, 3, 2), (1, 2, 0)]
    assert totals[0].mean_max == pytest.approx(2.0 / 3) and totals[1].mean_density == 0.75
    assert congruent_layers(db, tokens) == {1} and congruent_layers(db, None) == set()


def test_a_sorted_page_with_congruence_and_its_fallback(stored):
    db, scan, tokens = stored
    total, rows = layer_listing(
        db, scan, tokens, 1, sort="congruence", descending=True, offset=0, limit=10
    )
    assert total == 2 and [r.neuron for r in rows] == [1, 0]
    assert rows[0].congruence == 2.5 and rows[1].congruence == 1.0  # no whole word: any token
    assert rows[0].word_token["token"] == " Paris"
    total, rows = layer_listing(db, scan, None, 0, sort="max", descending=False, offset=1, limit=1)
    assert total == 3 and [(r.neuron, r.max, r.congruence) for r in rows] == [(2, 0.0, None)]
    found = sorted((la, n, [t["token"] for t in p]) for la, n, p in promoted_tokens(db, tokens))
    assert found == [(1, 0, []), (1, 1, [" Paris"])]
