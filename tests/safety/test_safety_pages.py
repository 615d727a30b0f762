"""The safety report page and its JSON twin, from a stored report."""

import pytest
import torch
from fastapi.testclient import TestClient

from babellens.safety import SafetyParams, SafetyReport, run_safety
from babellens.store import JobStore, open_database
from babellens.store.reports import ReportStore
from babellens.web import WebSettings, create_app
from tiny_models import tiny_lm_with_tokenizer


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    torch.set_num_threads(1)
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'db.sqlite'}"
    db = open_database(url)
    lm = tiny_lm_with_tokenizer("llama")
    params = SafetyParams(
        concept="refusal",
        langs=["en", "zh"],
        train_items=4,
        test_items=2,
        max_new_tokens=2,
        batch_size=8,
        resamples=20,
        neutral_texts=1,
        layers=[1],
    )
    report = run_safety(lm, params)
    jobs = JobStore(db)
    job = jobs.create("safety", "tiny", params.model_dump(mode="json"))
    jobs.finish(job.id, "done", summary={"concept": "refusal"})
    ReportStore(db).save(job.id, report, model="tiny")
    app = create_app(WebSettings(db=url), db)
    with TestClient(app) as client:
        yield client, job.id, report


def test_report_page_and_json_twin(stored):
    client, job_id, report = stored
    twin = client.get(f"/safety/{job_id}.json")
    assert twin.status_code == 200
    assert SafetyReport.model_validate(twin.json()["report"]) == report
    html = client.get(f"/safety/{job_id}").text
    for part in (
        "base-table",
        "cosine-table",
        "Transfer: ablation",
        "Transfer: addition",
        "random",
        "KL on neutral text",
    ):
        assert part in html
    listing = client.get("/safety.json").json()
    assert [r["job_id"] for r in listing["reports"]] == [job_id]
    assert f"/safety/{job_id}" in client.get("/safety").text


def test_unknown_or_unfinished_job_is_a_404(stored):
    client, _, _ = stored
    assert client.get("/safety/999.json").status_code == 404
