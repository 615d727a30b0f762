"""The ``explain`` job kind end to end on a tiny model folder: stored results, cancel + resume,
the budget cap, and the CLI."""

from __future__ import annotations

import json

import pytest
from tests.cli_runner import run_cli

from babellens.autointerp.budget import estimate_cost
from babellens.autointerp.sampling import SamplerConfig
from babellens.jobs import run_job
from babellens.jobs.explain_job import ExplainParams
from babellens.store import JobStore, open_database
from babellens.store.explanations import ExplanationStore
from job_processes import cancel_then_resume

SPEC = "openai:http://127.0.0.1:9/v1:x"
SMALL = {
    "layer": 1,
    "limit": 8,
    "corpus_tokens": 4096,
    "window_len": 48,
    "batch_units": 2,
    "sampler": {
        "n_train": 10,
        "n_test": 10,
        "n_non_activating": 10,
        "min_examples": 6,
        "ctx_len": 8,
    },
}


def _explanations(db, job_id):
    rows = ExplanationStore(db)
    return sorted(
        (e.unit.key, e.text, e.detection, e.detection_random, e.fuzzing, e.fuzzing_random)
        for layer in [1]
        for e in rows.for_layer(JobStore(db).get(job_id).model, layer).values()
        if e.job_id == job_id
    )


def test_explain_job_stores_scores_and_resumes_to_the_uninterrupted_result(
    tmp_path, model_folder, corpus_file, monkeypatch
) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'j.db'}")
    store = JobStore(db)
    params = {**SMALL, "corpus": corpus_file}
    whole = run_job(db, store.create("explain", model_folder, params).id)
    assert whole.status == "done", whole.error
    s = whole.summary
    assert s["explained"] > 2 and s["explained"] + s["skipped"] == 8
    assert [row["scorer"] for row in s["scores"]] == ["detection", "fuzzing"]
    assert all(row["random_mean"] is not None for row in s["scores"])
    expected = _explanations(db, whole.id)
    assert len(expected) == s["explained"]

    job = store.create("explain", model_folder, params)
    resumed = cancel_then_resume(db, job.id, monkeypatch, after=2)
    assert resumed.status == "done", resumed.error
    assert [r[1:] for r in _explanations(db, job.id)] == [r[1:] for r in expected]


def test_budget_cap_refuses_before_any_work(tmp_path, model_folder, corpus_file) -> None:
    cost = estimate_cost(
        8, SamplerConfig(), ["detection", "fuzzing"], llm_explainer=True, llm_judge=True
    )
    # 8 explainer calls; 8 units x 2 scorers x 2 explanations x (50 + 50) examples
    assert (cost.explainer_calls, cost.judge_calls) == (8, 3200)
    db = open_database(f"sqlite:///{tmp_path / 'b.db'}")
    job = JobStore(db).create(
        "explain",
        model_folder,
        {"layer": 1, "limit": 8, "explainer": SPEC, "judge": SPEC, "max_calls": 100},
    )
    failed = run_job(db, job.id)
    assert failed.status == "failed" and "needs up to 3,208 calls" in failed.error
    with pytest.raises(ValueError, match="bogus"):
        ExplainParams(layer=1, units=["1/2"], bogus=1)


def test_cli_explain_json_then_search_export_import(
    tmp_path, model_folder, corpus_file, capsys
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    args = ["explain", model_folder, "--layer", "1", "--limit", "6", "--corpus", corpus_file]
    code, out_text, err = run_cli([*args, "--corpus-tokens", "4096", "--db", url, "--json"], capsys)
    assert code == 0, err
    job = json.loads(out_text)
    assert job["status"] == "done" and job["summary"]["units"] == 6
    out = tmp_path / "np.json"
    code, _, err = run_cli(
        ["explanations", "export", model_folder, str(out), "--layer", "1", "--db", url], capsys
    )
    assert code == 0, err
    records = json.loads(out.read_text())
    assert records and all(r["layer"] == "1-mlp" for r in records)
    code, out_text, _ = run_cli(
        ["explanations", "import", "other", str(out), "--db", url, "--json"], capsys
    )
    assert code == 0 and json.loads(out_text)["imported"] == len(records)
    word = records[0]["description"].split('"')[1]
    code, out_text, err = run_cli(
        ["explanations", "search", "other", word, "--db", url, "--json"], capsys
    )
    assert code == 0, err
    hits = {str(h["explanation"]["unit"]["index"]) for h in json.loads(out_text)}
    assert records[0]["index"] in hits
    code, _, err = run_cli(["explain", model_folder, "--db", url], capsys)
    assert code == 2 and "either a layer" in err
