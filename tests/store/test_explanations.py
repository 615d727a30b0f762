"""The explanation store on SQLite and PostgreSQL: round trip, full text, meaning, Neuronpedia."""

from __future__ import annotations

import numpy as np
import pytest

from babellens.autointerp.pipeline import ExplainedUnit, UnitScore
from babellens.autointerp.scoring import Score
from babellens.autointerp.units import UnitRef
from babellens.errors import InvalidInputError
from babellens.store import JobStore, open_database
from babellens.store.explanation_exchange import import_neuronpedia, to_neuronpedia
from babellens.store.explanations import ExplanationStore

TEXTS = {
    0: ("dates written in Russian, like 12 марта", ["марта", "12"]),
    1: ("the word Paris and other French cities", ["Paris", "Lyon"]),
    2: ("closing brackets in Python code", [")", "]"]),
    3: ("numbers in English dates, like March 12", ["March", "12"]),
}


def _unit(i: int, explainer: str = "tokens", detection: float = 0.8) -> ExplainedUnit:
    text, tokens = TEXTS[i]
    score = Score(
        scorer="detection", value=detection, low=0.7, high=0.9, n_positive=50, n_negative=50
    )
    rand = Score(scorer="detection", value=0.5, low=0.4, high=0.6, n_positive=50, n_negative=50)
    return ExplainedUnit(
        unit=UnitRef(layer=2, index=i),
        explanation=text,
        explainer=explainer,
        judge="keywords",
        scores=[UnitScore(score=score, random=rand, random_of=UnitRef(layer=2, index=(i + 1) % 4))],
        n_activating=100,
        threshold=0.0,
        max_activation=3.0,
        train_examples=[(0, 0)],
        test_examples=[(1, 0)],
        top_tokens=tokens,
    )


def _bag_of_words(texts):
    """A stand-in embedder where the right answer is known: shared words, higher cosine."""
    vocab = sorted(
        {w for t in [*TEXTS.values()] for w in t[0].lower().split()} | {"russian", "french"}
    )
    out = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for row, t in enumerate(texts):
        for w in t.lower().split():
            if w in vocab:
                out[row, vocab.index(w)] = 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_round_trip_search_and_exchange(db_url) -> None:
    db = open_database(db_url)
    job = JobStore(db).create("explain", "m", {})
    store = ExplanationStore(db)
    assert store.save(job.id, "m", [_unit(i) for i in TEXTS]) == 4
    got = store.for_unit("m", UnitRef(layer=2, index=1))
    assert [(e.text, e.detection, e.detection_random) for e in got] == [(TEXTS[1][0], 0.8, 0.5)]
    assert got[0].record["scores"][0]["score"]["n_positive"] == 50
    assert sorted(store.for_layer("m", 2)) == [0, 1, 2, 3]
    # full text: words in the explanation, and in the marked token strings
    assert [h.explanation.unit.index for h in store.search_text("m", "French cities")] == [1]
    assert {h.explanation.unit.index for h in store.search_text("m", "dates")} == {0, 3}
    assert [h.explanation.unit.index for h in store.search_text("m", "Lyon")] == [1]
    assert store.search_text("other-model", "dates") == []
    with pytest.raises(InvalidInputError):
        store.search_text("m", "  ?? ")
    # by meaning, with an embedder whose answer is known
    hits = store.search_meaning("m", "russian dates", "bow", _bag_of_words, limit=2)
    assert hits[0].explanation.unit.index == 0 and hits[0].match > hits[1].match
    # a second save of the same job replaces; the FTS index follows (triggers / expression index)
    store.save(job.id, "m", [_unit(2)])
    assert store.search_text("m", "dates") == []
    # Neuronpedia export -> import -> same texts, under a new job
    exported = to_neuronpedia(store.for_layer("m", 2).values(), "m")
    assert exported[0] | {"scores": None} == {
        "modelId": "m",
        "layer": "2-mlp",
        "index": "2",
        "description": TEXTS[2][0],
        "explanationModelName": "tokens",
        "typeName": "babellens-unit-v1",
        "scores": None,
    }
    new_job = import_neuronpedia(
        db, "m2", [*exported, {"layer": "5-res-jb", "index": "7", "description": "x y"}]
    )
    assert [e.text for e in store.for_unit("m2", UnitRef(layer=2, index=2))] == [TEXTS[2][0]]
    assert store.for_unit("m2", UnitRef(source="res-jb", layer=5, index=7))[0].job_id == new_job
    with pytest.raises(InvalidInputError):
        import_neuronpedia(db, "m2", [{"layer": "x", "index": "1", "description": "d"}])
    db.dispose()
