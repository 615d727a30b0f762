"""Scan jobs end to end: in process, cancelled and resumed, and killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import random
import time

from sqlalchemy import select

from babellens.jobs import run_job
from babellens.store import JobStore, open_database
from babellens.store.schema import NeuronStatRow, ScanWindowRow
from job_processes import cli_process, kill_when

SCAN = ["--window", "16", "--k", "3", "--checkpoint-every", "0"]


def _results(db, job_id):
    with db.session() as s:
        stats = [
            (r.layer, r.neuron, r.max, r.mean, r.density, r.hist, r.examples, r.example_acts)
            for r in s.scalars(
                select(NeuronStatRow)
                .where(NeuronStatRow.job_id == job_id)
                .order_by(NeuronStatRow.layer, NeuronStatRow.neuron)
            )
        ]
        windows = [
            (r.window, r.doc_id, r.start, r.token_ids)
            for r in s.scalars(
                select(ScanWindowRow)
                .where(ScanWindowRow.job_id == job_id)
                .order_by(ScanWindowRow.window)
            )
        ]
    return stats, windows


def test_scan_killed_at_random_points_resumes_to_the_exact_result(
    db_url, model_folder, corpus_file
):
    db = open_database(db_url)
    reference = cli_process(
        "scan", model_folder, "--corpus", corpus_file, "--db", db_url, *SCAN, "--json"
    )
    out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    reference_id = json.loads(out)["id"]

    victim = cli_process("scan", model_folder, "--corpus", corpus_file, "--db", db_url, *SCAN)
    job_id = None
    while job_id is None:
        jobs = [j for j in JobStore(db).list() if j.id != reference_id]
        job_id = jobs[0].id if jobs else None
        time.sleep(0.05)
    rng = random.Random(1234)
    kills = 0
    for fraction in sorted(rng.uniform(0.1, 0.8) for _ in range(2)):
        if not kill_when(db, job_id, fraction, victim):
            break  # the run got past this point and finished first (a quiet machine): no kill
        kills += 1
        assert JobStore(db).get(job_id).status == "running", "a killed job is left running"
        victim = cli_process("jobs", "resume", str(job_id), "--db", db_url)
    _out, err = victim.communicate(timeout=300)
    assert victim.returncode == 0, err
    assert kills >= 1
    assert JobStore(db).get(job_id).status == "done"
    assert _results(db, job_id) == _results(db, reference_id)


def test_in_process_cancel_and_resume_equals_uninterrupted(
    db_url, model_folder, corpus_file, monkeypatch
):
    from babellens.analyses.neuron_scan.scan import ScanConfig
    from babellens.jobs.context import JobContext

    db = open_database(db_url)
    store = JobStore(db)
    params = ScanConfig(corpus=corpus_file, k=3, window_len=16, checkpoint_every_s=0).model_dump()
    reference = store.create("scan", model_folder, params)
    assert run_job(db, reference.id).status == "done"

    job = store.create("scan", model_folder, params)
    calls = {"n": 0}
    real = JobContext.should_stop

    def cancel_after_five(self):
        calls["n"] += 1
        return calls["n"] > 5 or real(self)

    monkeypatch.setattr(JobContext, "should_stop", cancel_after_five)
    cancelled = run_job(db, job.id)
    assert cancelled.status == "cancelled" and 0 < cancelled.checkpoint_done < cancelled.total
    monkeypatch.setattr(JobContext, "should_stop", real)
    store.requeue(job.id)
    assert run_job(db, job.id).status == "done"
    assert _results(db, job.id) == _results(db, reference.id)


def test_a_failing_job_records_its_error(db_url, model_folder, tmp_path):
    db = open_database(db_url)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    job = JobStore(db).create("scan", model_folder, {"corpus": str(empty)})
    finished = run_job(db, job.id)
    assert finished.status == "failed" and "empty" in finished.error


def test_background_runner_runs_and_cancels(tmp_path, model_folder, corpus_file):
    from babellens.analyses.neuron_scan.scan import ScanConfig
    from babellens.jobs import LocalRunner

    db = open_database(f"sqlite:///{tmp_path / 'bg.db'}")
    store = JobStore(db)
    params = ScanConfig(corpus=corpus_file, k=3, window_len=16, tokens_per_batch=32).model_dump()
    runner = LocalRunner(db)
    try:
        first = store.create("scan", model_folder, params)
        assert runner.submit(first.id).result(timeout=300).status == "done"
        second = store.create("scan", model_folder, params)
        future = runner.submit(second.id)
        while store.get(second.id).done == 0:
            time.sleep(0.02)
        store.request_cancel(second.id)
        finished = future.result(timeout=300)
    finally:
        runner.shutdown()
    assert finished.status == "cancelled" and finished.done < finished.total
    assert "resume" in finished.error
