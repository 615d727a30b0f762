"""One store with something behind every registered page (a scan, a dictionary, look-ups, a
steering evaluation, a cross-lingual report, an attribution graph, a safety report), and the
concrete address of each page in it."""

from __future__ import annotations

import pytest

from babellens import steering
from babellens.capture.language_model import load
from babellens.jobs import run_job
from babellens.jobs.kinds import SteeringEvalParams
from babellens.steering import ContrastPair, ContrastSet
from babellens.steering.library import save_vector
from babellens.store import JobStore
from babellens.store.dictionaries import DictionaryStore
from babellens.store.lookups import LookupsStore
from babellens.store.reports import ReportStore
from crossling_reports import finish_with_report, make_report
from dictionary_fakes import random_dictionary
from lookups_fakes import SCRIPTS, ScriptedProvider, tiny_config, write_corpus

PAIRS = [
    ContrastPair(prompt=f"Q: item {i}? A:", positive=f"THING {i}", negative=f"thing {i}")
    for i in range(4)
]


def _done(db, job) -> int:
    finished = run_job(db, job.id)
    assert finished.status == "done", finished.error
    return job.id


def _dictionary(scanned) -> tuple[int, int]:
    sd = random_dictionary(d_in=32, width=16, k=4, hook_in="resid_post.1")
    info = DictionaryStore(scanned.db).save([sd], model=scanned.model, source="trained")
    params = {"dictionary_id": info.id, "corpus": str(scanned.root / "corpus.jsonl"), "k": 4}
    _done(scanned.db, JobStore(scanned.db).create("dict_scan", scanned.model, params))
    return info.id, 0


def _lookups(scanned) -> tuple[int, str]:
    SCRIPTS["every-page"] = ScriptedProvider("every-page", explanation="fires on <b>bold</b>")
    corpus = write_corpus(scanned.root / "lookups.jsonl")
    config = tiny_config(corpus, explainer="fake:every-page")
    job = JobStore(scanned.db).create("lookups", scanned.model, config.model_dump())
    _done(scanned.db, job)
    report = LookupsStore(scanned.db).get(job.id)
    n = next(n for n in report.neurons if n.heads)
    h = n.heads[0]
    return job.id, f"/lookups/{job.id}/neurons/{n.layer}/{n.neuron}/heads/{h.layer}/{h.head}"


def _steering(scanned) -> int:
    lm = load(scanned.model)
    vector = steering.build(lm, ContrastSet(name="loud", pairs=PAIRS), layers=[1, 2])
    save_vector(vector)
    params = SteeringEvalParams(vector="loud", coefficients=[-2, 2], prompts=2, max_new_tokens=3)
    return _done(
        scanned.db, JobStore(scanned.db).create("steering_eval", scanned.model, params.model_dump())
    )


def _crossling(scanned) -> int:
    from babellens.crossling import ExperimentConfig

    jobs = JobStore(scanned.db)
    job = jobs.create("crossling", scanned.model, ExperimentConfig().model_dump(mode="json"))
    finish_with_report(scanned.db, job.id, make_report(scanned.model))
    return job.id


def _graph(scanned) -> int:
    from babellens.graphs.transcoders import save_transcoder_dir
    from graphs.fake_transcoders import fake_transcoders

    tcs = save_transcoder_dir(fake_transcoders(load(scanned.model), width=16), scanned.root / "tcs")
    params = {"prompt": "<b>Paris</b> is", "transcoders": str(tcs)}
    return _done(scanned.db, JobStore(scanned.db).create("graph", scanned.model, params))


def _safety(scanned) -> int:
    from babellens.safety import SafetyParams, run_safety
    from tiny_models import tiny_lm_with_tokenizer

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
    report = run_safety(tiny_lm_with_tokenizer("llama"), params)
    jobs = JobStore(scanned.db)
    job = jobs.create("safety", "tiny", params.model_dump(mode="json"))
    jobs.finish(job.id, "done", summary={"concept": "refusal"})
    ReportStore(scanned.db).save(job.id, report, model="tiny")
    return job.id


def every_page(scanned) -> dict[str, str]:
    """Registered path -> an address of that page that has data behind it."""
    with pytest.MonkeyPatch.context() as mp:  # module scope: the per-test home is not set yet
        mp.setenv("BABELLENS_HOME", str(scanned.root / "home"))
        dict_id, member = _dictionary(scanned)
        lookups_job, head_page = _lookups(scanned)
        steering_job = _steering(scanned)
        graph_job = _graph(scanned)
    model = f"/models/{scanned.slug}"
    return {
        "/": "/",
        "/live": "/live",
        "/steering": "/steering",
        "/crossling": "/crossling",
        "/jobs": "/jobs",
        "/glossary": "/glossary",
        "/lookups": "/lookups",
        "/dictionaries": "/dictionaries",
        "/graphs": "/graphs",
        "/safety": "/safety",
        "/models/{slug}": model,
        "/models/{slug}/layers/{layer}": f"{model}/layers/1",
        "/models/{slug}/layers/{layer}/neurons/{neuron}": f"{model}/layers/1/neurons/2",
        "/models/{slug}/search": f"{model}/search?q=1/2",
        "/search": "/search?q=1/2",
        "/jobs/{job_id}": f"/jobs/{scanned.scan_id}",
        "/steering/evaluations/{job_id}": f"/steering/evaluations/{steering_job}",
        "/crossling/{job_id}": f"/crossling/{_crossling(scanned)}",
        "/lookups/{job_id}": f"/lookups/{lookups_job}",
        "/lookups/{job_id}/neurons/{layer}/{neuron}/heads/{head_layer}/{head}": head_page,
        "/dictionaries/{dict_id}": f"/dictionaries/{dict_id}?member={member}",
        "/dictionaries/{dict_id}/features/{index}": f"/dictionaries/{dict_id}/features/3",
        "/graphs/{job_id}": f"/graphs/{graph_job}",
        "/safety/{job_id}": f"/safety/{_safety(scanned)}",
    }
