"""The store on SQLite and PostgreSQL: migrations, jobs, results round trips, errors."""

from __future__ import annotations

import pytest
import torch
from sqlalchemy import inspect

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.analyses.next_token_neurons import NextTokenNeuron, TokenScore
from babellens.data import Corpus, Document, Window
from babellens.errors import InvalidInputError
from babellens.jobs.scan_results import layer_scan
from babellens.store import DatabaseError, JobStore, ResultStore, open_database


def test_migrations_create_the_schema(db_url):
    db = open_database(db_url)
    tables = set(inspect(db.engine).get_table_names())
    assert {"jobs", "scan_windows", "neuron_stats", "token_neurons", "alembic_version"} <= tables
    open_database(db_url)  # a second open is a no-op upgrade


def test_job_lifecycle(db_url):
    store = JobStore(open_database(db_url))
    job = store.create("scan", "tiny", {"k": 3})
    assert job.status == "queued" and job.params == {"k": 3}
    store.start(job.id)
    assert store.progress(job.id, 50, 200, 25.0) is False
    running = store.get(job.id)
    assert (
        running.status == "running"
        and running.eta_s == pytest.approx(6.0)
        and running.fraction == 0.25
    )
    store.request_cancel(job.id)
    assert store.progress(job.id, 60, 200, 25.0) is True
    store.save_checkpoint(job.id, b"\x00\x01state", 60)
    assert store.load_checkpoint(job.id) == b"\x00\x01state"
    store.finish(job.id, "cancelled", error="cancelled")
    assert store.requeue(job.id).status == "queued"
    store.start(job.id)
    store.finish(job.id, "done", summary={"tokens": 200})
    done = store.get(job.id)
    assert (
        done.status == "done"
        and done.summary == {"tokens": 200}
        and store.load_checkpoint(job.id) is None
    )
    with pytest.raises(InvalidInputError, match="already done"):
        store.requeue(job.id)
    assert [j.id for j in store.list(status="done")] == [job.id]
    with pytest.raises(InvalidInputError, match="no job 999"):
        store.get(999)


def test_cancel_a_queued_job_and_a_finished_one(db_url):
    store = JobStore(open_database(db_url))
    job = store.create("scan", "tiny", {})
    assert store.request_cancel(job.id).status == "cancelled"
    with pytest.raises(InvalidInputError, match="already cancelled"):
        store.request_cancel(job.id)


def test_scan_results_round_trip(db_url):
    db = open_database(db_url)
    job = JobStore(db).create("scan", "tiny", {"window_len": 4})
    acc = LayerAccumulator(d_mlp=3, k=2, window_len=4)
    acts = torch.tensor([[[1.0, -1.0, 0.5], [2.0, 0.0, 0.25], [0.0, 0.0, 0.0], [9.0, 9.0, 9.0]]])
    acc.update(acts, torch.tensor([[1, 1, 1, 0]]), torch.tensor([0]))
    acc.update(acts * 2, torch.tensor([[1, 1, 1, 1]]), torch.tensor([1]))
    results = ResultStore(db)
    results.save_layer(job.id, 0, layer_scan(acc))
    corpus = Corpus("c", (Document("doc-a", "x", lang="en"), Document("doc-b", "y", lang="de")))
    windows = [Window(0, 0, 0, (5, 6, 7), False), Window(1, 1, 0, (8, 9, 10, 11), False)]
    results.save_windows(job.id, windows, corpus, used={0, 1})
    record = results.neuron(job.id, 0, 0, lambda ids: [f"t{i}" for i in ids])
    assert record.max == 18.0 and record.density == pytest.approx(5 / 7)
    assert [e.window for e in record.examples] == [1, 0]
    top = record.examples[0]
    assert (top.doc_id, top.lang, top.position, top.value) == ("doc-b", "de", 3, 18.0)
    assert top.tokens == ["t8", "t9", "t10", "t11"] and top.activations == [2.0, 4.0, 0.0, 18.0]
    assert record.examples[1].activations == [1.0, 2.0, 0.0]
    assert sum(record.histogram.counts) == 7
    with pytest.raises(InvalidInputError, match="no scan result"):
        results.neuron(job.id, 1, 0, lambda ids: [])


def test_token_neurons_round_trip_and_ranking(db_url):
    db = open_database(db_url)
    job = JobStore(db).create("next_token_neurons", "tiny", {})
    tok = TokenScore(token_id=1, token=" cat", score=2.0)
    neurons = [
        NextTokenNeuron(
            layer=0,
            neuron=n,
            score=float(n),
            word_score=float(10 - n),
            word_token=tok,
            promoted=[tok],
            suppressed=[tok],
        )
        for n in range(5)
    ]
    results = ResultStore(db)
    results.save_token_neurons(job.id, neurons)
    assert results.token_neuron(job.id, 0, 3) == neurons[3]
    assert [n.neuron for n in results.top_token_neurons(job.id, 0, 2)] == [0, 1]
    assert [n.neuron for n in results.top_token_neurons(job.id, None, 2, words_only=False)] == [
        4,
        3,
    ]


@pytest.mark.parametrize(
    "url", ["postgresql://nobody@127.0.0.1:1/nothing", "notadb://x", "sqlite:////proc/nope/x.db"]
)
def test_unreachable_database_is_a_one_line_error(url):
    with pytest.raises(DatabaseError) as err:
        open_database(url)
    assert "cannot open database" in str(err.value) and "\n" not in str(err.value)


def test_reopen_queues_a_finished_job_with_new_params(db_url):
    store = JobStore(open_database(db_url))
    job = store.create("crossling", "tiny", {"train_langs": ["en"]})
    with pytest.raises(InvalidInputError, match="queued: wait"):
        store.reopen(job.id, {})
    store.start(job.id)
    store.finish(job.id, "done", summary={"conditions": 2})
    again = store.reopen(job.id, {"train_langs": ["en", "de"]})
    assert again.status == "queued" and again.params == {"train_langs": ["en", "de"]}
    assert again.summary == {"conditions": 2} and again.error is None  # kept until it finishes
    store.start(job.id)
    with pytest.raises(InvalidInputError, match="running: wait"):
        store.reopen(job.id, {})


def test_latest_job_is_the_newest_in_a_status_per_model(db_url):
    from babellens.store.jobs import latest_job, latest_jobs

    db = open_database(db_url)
    store = JobStore(db)
    ids = {}
    for name, model, kind, status in (
        ("a1", "m/a", "scan", "done"),
        ("b1", "m/b", "scan", "done"),
        ("a2", "m/a", "scan", "done"),
        ("a3", "m/a", "scan", "failed"),
        ("t1", "m/a", "next_token_neurons", "done"),
    ):
        job = store.create(kind, model, {})
        store.finish(job.id, status)  # type: ignore[arg-type]
        ids[name] = job.id
    newest = latest_jobs(db, "scan")
    assert {m: j.id for m, j in newest.items()} == {"m/a": ids["a2"], "m/b": ids["b1"]}
    assert latest_job(db, "m/a", "scan").id == ids["a2"]
    assert latest_job(db, "m/a", "scan", "failed").id == ids["a3"]
    assert latest_job(db, "m/c", "scan") is None
    assert ResultStore(db).latest_job("m/a", "next_token_neurons") == ids["t1"]


def test_a_job_context_sees_a_cancel_without_progress_reports(db_url):
    from babellens.jobs.context import JobContext

    db = open_database(db_url)
    store = JobStore(db)
    job = store.create("scan", "m", {})
    store.start(job.id)
    ctx = JobContext(store.get(job.id), db, progress_every_s=0.0)
    assert not ctx.should_stop()
    store.request_cancel(job.id)
    assert ctx.should_stop()  # asked the store: no progress report came in between


def test_a_finished_jobs_checkpoint_leaves_no_free_pages_behind(tmp_path):
    """A large checkpoint rewritten during a job must not keep the SQLite file at its size."""
    import sqlite3

    path = tmp_path / "j.db"
    db = open_database(f"sqlite:///{path}")
    jobs = JobStore(db)
    job = jobs.create("scan", "m", {})
    blob = bytes(range(256)) * (8 * 4096)  # 8 MiB
    for done in range(3):
        jobs.save_checkpoint(job.id, blob, done)

    def pages() -> tuple[int, int]:
        with sqlite3.connect(path) as conn:
            return (
                conn.execute("PRAGMA page_count").fetchone()[0],
                conn.execute("PRAGMA freelist_count").fetchone()[0],
            )

    before, _ = pages()
    assert before * 4096 > 8 * 2**20  # the checkpoint is in the file
    jobs.finish(job.id, "done")
    after, free = pages()
    assert jobs.load_checkpoint(job.id) is None
    assert free == 0 and after * 4096 < 2**20, (before, after, free)
