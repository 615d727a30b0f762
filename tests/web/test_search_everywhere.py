"""The top bar's search: every model, or the one whose pages you are on; neuron ids recognised."""

from __future__ import annotations

import pytest
from tests.store.test_explanations import _unit

from babellens.store import JobStore
from babellens.store.explanations import ExplanationStore
from babellens.web.queries import search_kind


@pytest.fixture(scope="module")
def explained(scanned):
    job = JobStore(scanned.db).create("explain", scanned.model, {})
    ExplanationStore(scanned.db).save(job.id, scanned.model, [_unit(i) for i in range(4)])
    return scanned


def test_a_neuron_id_is_read_as_one_and_words_as_explanation_text() -> None:
    assert search_kind("2/3") == "neuron" and search_kind(" L2 N3 ") == "neuron"
    assert search_kind("Russian dates") == "explanation" and search_kind("2024") == "explanation"


def test_words_find_the_explained_unit_in_every_model(client, explained) -> None:
    got = client.get("/search.json", params={"q": "Paris"}).json()
    assert got["by"] == "explanation" and got["model"] is None
    assert [r["card"]["model"] for r in got["results"]] == [explained.model]
    hits = got["results"][0]["hits"]
    assert [(h["layer"], h["neuron"]) for h in hits] == [(2, 1)]
    assert hits[0]["reason"] == "the word Paris and other French cities"


def test_a_neuron_id_jumps_to_that_neuron(client, explained) -> None:
    got = client.get("/search.json", params={"q": "1/3"}).json()
    assert got["by"] == "neuron"
    assert [(h["layer"], h["neuron"]) for h in got["results"][0]["hits"]] == [(1, 3)]
    html = client.get("/search", params={"q": "1/3"}).text
    assert f'href="/models/{explained.slug}/layers/1/neurons/3"' in html


def test_scoped_to_one_model_and_errors_that_say_what_to_do(client, explained) -> None:
    got = client.get("/search.json", params={"q": "Python", "model": explained.slug}).json()
    assert got["model"] == explained.slug and len(got["results"]) == 1
    assert [(h["layer"], h["neuron"]) for h in got["results"][0]["hits"]] == [(2, 2)]
    bad = client.get("/search.json", params={"q": "Paris", "by": "neuron"})
    assert bad.status_code == 400 and "LAYER/NEURON" in bad.json()["error"]
    assert client.get("/search.json", params={"q": ""}).status_code == 422
    missing = client.get("/search.json", params={"q": "x", "model": "no--such-model"})
    assert missing.status_code == 404


def test_the_top_bar_searches_every_model_or_the_current_one(client, explained) -> None:
    home = client.get("/").text
    assert 'action="/search"' in home and '<input type="hidden" name="model"' not in home
    model_page = client.get(f"/models/{explained.slug}").text
    assert f'<input type="hidden" name="model" value="{explained.slug}">' in model_page
    assert "Search this model" in model_page
