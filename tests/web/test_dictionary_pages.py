"""Dictionary pages and their JSON twins, against the store and the features module."""

from __future__ import annotations

import pytest

from babellens.dictionaries.features import feature_tokens
from babellens.jobs import cached_model, run_job
from babellens.store import JobStore
from babellens.store.dictionaries import DictionaryStore
from babellens.store.results import ResultStore
from dictionary_fakes import random_dictionary


@pytest.fixture(scope="module")
def scanned_dictionary(scanned, tmp_path_factory):
    # module-scoped: runs before the per-test home isolation, so give the files a home here
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BABELLENS_HOME", str(tmp_path_factory.mktemp("dict-pages-home")))
        return _scanned_dictionary(scanned)


def _scanned_dictionary(scanned):
    sd = random_dictionary(d_in=32, width=16, k=4, hook_in="resid_post.1")
    info = DictionaryStore(scanned.db).save(
        [sd], model=scanned.model, source="trained", metrics={"eval": {"fvu": 0.5, "members": []}}
    )
    corpus = str(scanned.root / "corpus.jsonl")
    job = JobStore(scanned.db).create(
        "dict_scan",
        scanned.model,
        {"dictionary_id": info.id, "corpus": corpus, "k": 4, "window_len": 24},
    )
    finished = run_job(scanned.db, job.id)
    assert finished.status == "done", finished.error
    return info.id, job.id, sd


def test_dictionary_list_and_page(client, scanned, scanned_dictionary):
    dict_id, scan_job, _ = scanned_dictionary
    listed = client.get("/dictionaries.json").json()
    assert [d["id"] for d in listed["dictionaries"]] == [dict_id]
    assert "<code>resid_post.1</code>" in client.get("/dictionaries").text
    page = client.get(f"/dictionaries/{dict_id}.json", params={"sort": "density"}).json()
    assert page["scan_job"] == scan_job and page["total"] == 16
    densities = [f["density"] for f in page["features"]]
    assert densities == sorted(densities, reverse=True)
    assert client.get(f"/dictionaries/{dict_id}").status_code == 200


def test_feature_page_matches_the_scan_and_the_decoder_tokens(client, scanned, scanned_dictionary):
    dict_id, scan_job, sd = scanned_dictionary
    page = client.get(f"/dictionaries/{dict_id}/features/3.json").json()
    stored = ResultStore(scanned.db).neuron(scan_job, 0, 3, lambda ids: [str(i) for i in ids])
    assert page["record"]["max"] == stored.max and page["record"]["density"] == stored.density
    expected = feature_tokens(cached_model(scanned.model), sd, 3)
    assert [t["token_id"] for t in page["promoted"]] == [t.token_id for t in expected.promoted]
    assert page["previous"] == 2 and page["next"] == 4
    html = client.get(f"/dictionaries/{dict_id}/features/3")
    assert html.status_code == 200 and "<img src=x" not in html.text  # token text is escaped


def test_missing_dictionary_or_feature_is_404(client, scanned_dictionary):
    dict_id, _, _ = scanned_dictionary
    assert client.get("/dictionaries/999.json").status_code == 404
    assert client.get(f"/dictionaries/{dict_id}/features/16.json").status_code == 404
    assert client.get(f"/dictionaries/{dict_id}.json", params={"member": 3}).status_code == 404


def test_the_model_page_lists_its_dictionaries_with_their_metrics(
    client, scanned, scanned_dictionary
):
    dict_id, _, _ = scanned_dictionary
    page = client.get(f"/models/{scanned.slug}.json").json()
    assert [(d["id"], d["hook_in"]) for d in page["dictionaries"]] == [(dict_id, "resid_post.1")]
    assert page["dictionaries"][0]["metrics"]["eval"]["fvu"] == 0.5
    html = client.get(f"/models/{scanned.slug}").text
    assert f'<a href="/dictionaries/{dict_id}">{dict_id}</a>' in html
    assert "<code>resid_post.1</code>" in html
