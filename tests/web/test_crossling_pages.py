"""Cross-lingual pages: the launcher's checks, the report's data and its JSON twin."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from babellens.analyses.logit_lens import LensLayer, LogitLensResult
from babellens.crossling import (
    BehaviourRate,
    ConceptSimilarity,
    ConditionRates,
    DoseCurve,
    ExperimentConfig,
    ExperimentReport,
    Recovery,
)
from babellens.store import JobStore
from babellens.web import WebSettings, create_app

from .conftest import XSS


def _rate(lang: str, mean: float, sample: str = "a sample") -> BehaviourRate:
    return BehaviourRate(
        lang=lang, mean=mean, low=mean - 5, high=mean + 5, scored=8, samples=[sample]
    )


def make_report(model: str) -> ExperimentReport:
    config = ExperimentConfig(eval_langs=["en", "de"], steer_coefficients=[0.0, 1.0])
    base = {"en": _rate("en", 3.0, XSS), "de": _rate("de", 6.0)}
    tuned = {"en": _rate("en", 80.0), "de": _rate("de", 40.0)}
    sim = ConceptSimilarity(concept="caps", langs=["en", "de"], layers=[0, 1], pairs=4,
                            cosine={0: [[1.0, 0.5], [0.5, 1.0]], 1: [[1.0, 0.8], [0.8, 1.0]]},
                            control={0: [[1.0, 0.1], [0.1, 1.0]], 1: [[1.0, -0.1], [-0.1, 1.0]]},
                            norms={"en": {0: 1.0, 1: 2.0}, "de": {0: 1.5, 1: 2.5}})  # fmt: skip
    return ExperimentReport(
        model=model, config=config,
        conditions=[ConditionRates(condition="base", rates=base), ConditionRates(condition="lora-en", rates=tuned)],
        transfer={"en": {"en": 77.0, "de": 34.0}}, adapters={"en": "/tmp/lora-en"}, losses={"en": [2.0, 1.0]},
        similarity=sim,
        steering=[DoseCurve(lang="de", vector_lang="en", layer=1, coefficients=[0.0, 1.0],
                            rates=[_rate("de", 6.0), _rate("de", 70.0)])],
        recovery=[Recovery(adapter_lang="en", lang="de", vector_lang="en", coefficient=1.0, layer=1,
                           before=tuned["de"], after=_rate("de", 90.0), recovered=True)],
        logit_lens=[LogitLensResult(model=model, source="fr", target="de", prompts=3, skipped=0,
                                    layers=[LensLayer(layer=0, p_target=0.1, p_english=0.2)], example_prompt="x")],
        timings_s={"base rate en": 12.0, "train en": 48.0},
    )  # fmt: skip


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
    jobs.finish(job.id, "done", summary=report.model_dump(mode="json"))
    twin = client.get(f"/crossling/{job.id}.json").json()
    assert ExperimentReport.model_validate(twin["report"]) == report
    html = client.get(f"/crossling/{job.id}").text
    for chart in ("transfer-chart", "rates-chart", "sim-chart", "control-chart", "layer-slider",
                  "steer-chart", "lens-chart"):  # fmt: skip
        assert f'id="{chart}"' in html
    embedded = json.loads(html.split('id="crossling-data">', 1)[1].split("</script>", 1)[0])
    assert embedded["transfer"] == {"en": {"en": 77.0, "de": 34.0}}
    assert "<img src=x" not in html and "recovered" in html  # samples are escaped
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
    body = {"model": scanned.model, "train_langs": ["de"], "eval_langs": ["de", "ru"], "prompts": 2,
            "max_new_tokens": 3, "steps": 1}  # fmt: skip
    answer = rooted.post("/api/crossling/experiments", json=body)
    assert answer.status_code == 201, answer.text
    job = answer.json()
    assert job["kind"] == "crossling" and job["params"]["train_langs"] == ["de"]
    assert job["params"]["rates"]["prompts"] == 2 and job["params"]["lora"]["steps"] == 1
    rooted.post(f"/api/jobs/{job['id']}/cancel")
