"""The ``safety`` job kind: cancelled in the middle, re-queued, and finished with the report of
an uninterrupted job (checkpoints through the job store)."""

import torch

from babellens.jobs import run_job
from babellens.jobs.registry import job_kind_spec
from babellens.safety import SafetyParams, SafetyReport
from babellens.store import JobStore, open_database
from babellens.store.reports import ReportStore
from job_processes import cancel_then_resume


def test_job_cancel_then_resume_equals_uninterrupted(model_folder, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    assert job_kind_spec("safety").params is SafetyParams
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = JobStore(db)
    params = SafetyParams(
        concept="hallucination",
        langs=["en", "ru"],
        train_items=4,
        test_items=2,
        multipliers=[-1.0, 1.0],
        batch_size=2,
        resamples=20,
        neutral_texts=1,
        layers=[1],
    ).model_dump(mode="json")
    reference = store.create("safety", model_folder, params)
    assert run_job(db, reference.id).status == "done"

    job = store.create("safety", model_folder, params)
    finished = cancel_then_resume(db, job.id, monkeypatch, after=5)
    assert finished.status == "done" and finished.summary["concept"] == "hallucination"
    reports = ReportStore(db)
    first = reports.get(reference.id, SafetyReport).model_dump(exclude={"seconds"})
    second = reports.get(job.id, SafetyReport).model_dump(exclude={"seconds"})
    assert second == first
