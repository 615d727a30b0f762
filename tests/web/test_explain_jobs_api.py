"""An ``explain`` job from the web: the home form offers it (dictionary and member included), a
whole dictionary set runs in one job, and what the web may not ask for is a one-line 400."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from babellens.store import JobStore
from babellens.store.dictionaries import DictionaryStore
from babellens.store.explanations import ExplanationStore
from babellens.web import WebSettings, create_app
from dictionary_fakes import random_dictionary

SAMPLER = {"n_train": 10, "n_test": 10, "n_non_activating": 10, "min_examples": 6, "ctx_len": 8}


@pytest.fixture(scope="module")
def web(scanned):
    settings = WebSettings(db=scanned.db.url, model_roots=[str(scanned.root)], max_job_tokens=8192)
    with TestClient(create_app(settings, scanned.db)) as c:
        yield c


@pytest.fixture
def pair(scanned) -> int:
    members = [
        random_dictionary(d_in=32, width=8, k=3, hook_in=f"resid_post.{i}", seed=2 + i)
        for i in range(2)
    ]
    return DictionaryStore(scanned.db).save(members, model=scanned.model, source="trained").id


def _body(scanned, **params) -> dict:
    corpus = str(scanned.root / "corpus.jsonl")
    base = {"corpus": corpus, "corpus_tokens": 2048, "window_len": 24, "batch_units": 4}
    return {"kind": "explain", "model": scanned.model, "params": {**base, **params}}


def test_the_home_form_offers_an_explain_job_with_dictionary_and_member(web) -> None:
    forms = {f["kind"]: f for f in web.get("/index.json").json()["job_forms"]}
    fields = {f["name"]: f for f in forms["explain"]["fields"]}
    assert fields["dictionary"]["input"] == "integer" and fields["dictionary"]["optional"]
    assert fields["member"]["input"] == "string" and "every member" in fields["member"]["help"]
    assert fields["corpus_tokens"]["default"] == 32_768
    assert "sampler" in forms["explain"]["advanced"]


def test_a_whole_set_explained_from_the_web_in_one_job(web, scanned, pair) -> None:
    answer = web.post("/api/jobs", json=_body(scanned, dictionary=pair, sampler=SAMPLER))
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    assert answer.json()["params"]["member"] is None
    with web.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert [line for line in stream.iter_lines() if line.startswith("data: ")][-1] == (
            "data: done"
        )
    job = JobStore(scanned.db).get(job_id)
    assert job.summary["members"] == [0, 1] and job.summary["units"] == 2 * 8
    stored = ExplanationStore(scanned.db)
    counts = [len(stored.of_job(job_id, member)) for member in (0, 1)]
    assert sum(counts) == job.summary["explained"] > 0


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"member": "5"}, 400, "member 5 out of range"),
        ({"explainer": "openai:http://10.0.0.1:80/v1:m"}, 400, "explainer: from the web use"),
        ({"judge": "local:/etc/some-model"}, 400, "judge: from the web use"),
        ({"corpus_tokens": 16_384}, 400, "corpus_tokens is limited to 8192"),
        ({"dictionary": 999_999}, 404, "no dictionary 999999"),
    ],
)
def test_what_the_web_may_not_ask_of_an_explain_job_is_one_line(
    web, scanned, pair, params, status, words
) -> None:
    before = len(JobStore(scanned.db).list(limit=1000))
    answer = web.post("/api/jobs", json=_body(scanned, **{"dictionary": pair, **params}))
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert words in error and "\n" not in error
    assert len(JobStore(scanned.db).list(limit=1000)) == before
