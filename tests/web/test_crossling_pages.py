"""Cross-lingual pages: the launcher's checks, the report's data and its JSON twin."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from babellens.crossling import ExperimentConfig, ExperimentReport
from babellens.store import JobStore
from babellens.web import WebSettings, create_app
from crossling_reports import finish_with_report, make_report


@pytest.fixture(scope="module")
def rooted(scanned):
    """An app that allows local models under the test's folder."""
    app = create_app(WebSettings(db=scanned.db.url, model_roots=[str(scanned.root)]), scanned.db)
    with TestClient(app) as c:
        yield c


def test_the_report_page_carries_every_chart_and_its_json_twin(client, scanned):
    jobs = JobStore(scanned.db)
    job = jobs.create("crossling", scanned.model, ExperimentConfig().model_dump(mode="json"))
    report = make_report(scanned.model)
    finish_with_report(scanned.db, job.id, report)
    twin = client.get(f"/crossling/{job.id}.json").json()
    assert ExperimentReport.model_validate(twin["report"]) == report
    html = client.get(f"/crossling/{job.id}").text
    for chart in (
        "transfer-chart",
        "rates-chart",
        "sim-chart",
        "control-chart",
        "layer-slider",
        "steer-chart",
        "lens-chart",
    ):
        assert f'id="{chart}"' in html
    embedded = json.loads(html.split('id="chart-data">', 1)[1].split("</script>", 1)[0])
    assert embedded["charts"] == twin["charts"]
    (transfer,) = [c for c in embedded["charts"] if c["id"] == "transfer-chart"]
    drawn = {s["name"]: dict(zip(s["x"], s["y"], strict=True)) for s in transfer["series"]}
    assert drawn == {"trained en": {"en": 77.0, "de": 34.0}}
    assert "<img src=x" not in html and "recovered" in html  # samples are escaped
    assert "<th>in its language</th>" in html and "<td>37.5%</td>" in html
    listing = client.get("/crossling.json").json()
    assert job.id in [r["id"] for r in listing["runs"]] and "zh" in listing["languages"]
    assert client.get(f"/crossling/{scanned.scan_id}.json").status_code == 404


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"train_langs": ["xx"]}, 400),
        ({"eval_langs": []}, 422),
        ({"prompts": 100_000}, 422),
        ({"max_new_tokens": 100_000}, 422),
        ({"model": "/etc/passwd"}, 400),
        ({"behaviour": "shouting"}, 400),
    ],
)
def test_bad_launches_get_a_4xx(rooted, scanned, change, status):
    body = {"model": scanned.model, "prompts": 2} | change
    answer = rooted.post("/api/crossling/experiments", json=body)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json() or "detail" in answer.json()


def test_a_launch_queues_a_crossling_job(rooted, scanned):
    body = {
        "model": scanned.model,
        "train_langs": ["de"],
        "eval_langs": ["de", "ru"],
        "prompts": 2,
        "max_new_tokens": 3,
        "steps": 1,
    }
    answer = rooted.post("/api/crossling/experiments", json=body)
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["kind"] == "crossling" and job["params"]["train_langs"] == ["de"]
    assert job["params"]["rates"]["prompts"] == 2 and job["params"]["lora"]["steps"] == 1
    rooted.post(f"/api/jobs/{job['id']}/cancel")


def test_extend_queues_the_run_again_with_one_more_training_language(rooted, scanned):
    jobs = JobStore(scanned.db)
    config = ExperimentConfig(
        eval_langs=["de"],
        rates={"prompts": 1, "max_new_tokens": 2},
        vectors=False,
        steering=False,
        logit_lens_targets=[],
    )
    job = jobs.create("crossling", scanned.model, config.model_dump(mode="json"))
    finish_with_report(scanned.db, job.id, make_report(scanned.model))
    url = f"/api/crossling/experiments/{job.id}/extend"
    for body, message in (
        ({"train_langs": ["en"]}, "already trained en"),
        ({"train_langs": ["xx"]}, "xx"),
    ):
        answer = rooted.post(url, json=body)
        assert answer.status_code == 400 and message in answer.text
    answer = rooted.post(
        f"/api/crossling/experiments/{scanned.scan_id}/extend", json={"train_langs": ["de"]}
    )
    assert answer.status_code == 400 and "not a crossling experiment" in answer.text
    answer = rooted.post(url, json={"train_langs": ["de"]})
    assert answer.status_code == 202, answer.text
    assert answer.json()["id"] == job.id and answer.json()["params"]["train_langs"] == ["en", "de"]
    rooted.post(f"/api/jobs/{job.id}/cancel")
    html = rooted.get("/crossling").text
    assert "en, de" in html  # the run's row shows both training languages
