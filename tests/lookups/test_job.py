"""The ``lookups`` job end to end on a tiny model: stored report, and a crash resumed to the same
report without paying the providers twice."""

from __future__ import annotations

import pytest

from babellens.control import decode_checkpoint
from babellens.jobs import lookups_job as _job  # noqa: F401 - registers the kind
from babellens.jobs import run_job
from babellens.lookups.pipeline import LookupsState
from babellens.store import JobStore, open_database
from babellens.store.lookups import LookupsStore
from lookups_fakes import SCRIPTS, ScriptedProvider, tiny_config, write_corpus


@pytest.fixture
def corpus(tmp_path) -> str:
    return write_corpus(tmp_path / "c.jsonl")


def _comparable(report) -> dict:
    data = report.model_dump(mode="json", exclude={"job_id", "timings", "explainer", "scorer"})
    data["config"].pop("explainer")
    for n in data["neurons"]:
        n["seconds"], n["phase_seconds"] = 0, {}
    return data


def _calls_of_first_neuron(report) -> int:
    n = report.neurons[0]
    return len(n.heads) + sum(h.n_test for h in n.heads if h.score is not None)


def test_job_stores_the_report_and_resumes_after_a_crash(model_folder, corpus, tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    jobs, store = JobStore(db), LookupsStore(db)
    SCRIPTS["steady"] = steady = ScriptedProvider("steady")
    whole = jobs.create(
        "lookups", model_folder, tiny_config(corpus, explainer="fake:steady").model_dump()
    )
    finished = run_job(db, whole.id)
    assert finished.status == "done", finished.error
    report = store.get(whole.id)
    assert report.job_id == whole.id and report.explainer == report.scorer == "fake:steady"
    assert finished.summary["neurons"] == len(report.neurons) == 3
    assert finished.summary["groups"] == [g.model_dump(mode="json") for g in report.groups]
    assert [r.job_id for r in store.list(model_folder)] == [whole.id] and store.latest(
        model_folder
    ) == whole.id

    first = _calls_of_first_neuron(report)  # at most what the first neuron paid (cache hits)
    assert 0 < first < steady.calls, "the test needs calls in the first neuron and after it"
    SCRIPTS["crashy"] = crashy = ScriptedProvider("crashy", fail_after=first)
    again = jobs.create(
        "lookups", model_folder, tiny_config(corpus, explainer="fake:crashy").model_dump()
    )
    crashed = run_job(db, again.id)
    assert crashed.status == "failed" and "scripted crash" in crashed.error
    saved = LookupsState.model_validate(decode_checkpoint(jobs.load_checkpoint(again.id))[1])
    assert 1 <= len(saved.done) < 3 and crashed.checkpoint_done == saved.pass_steps + len(
        saved.done
    )
    SCRIPTS["crashy"] = healed = ScriptedProvider("crashy")  # same name: same cache entries
    jobs.requeue(again.id)
    resumed = run_job(db, again.id)
    assert resumed.status == "done", resumed.error
    assert crashy.calls + healed.calls == steady.calls  # nothing paid twice
    final = store.get(again.id)
    assert (
        final.neurons[0].seconds == saved.done[0].seconds
    )  # taken from the checkpoint, not redone
    assert final.explainer == "fake:crashy" and _comparable(final) == _comparable(report)


def test_a_bad_provider_fails_the_job_with_one_line(model_folder, corpus, tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    job = JobStore(db).create(
        "lookups", model_folder, tiny_config(corpus, explainer="nope:x").model_dump()
    )
    failed = run_job(db, job.id)
    assert failed.status == "failed" and failed.error.startswith("unknown provider 'nope'")
