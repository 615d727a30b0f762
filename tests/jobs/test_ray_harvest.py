"""Dictionary training with the harvest on a real local Ray instance (two worker processes): the
weights equal the local trainer's bit for bit, through a cancel and a resume (on Ray or locally),
and the streamed harvest keeps the chunk order when a worker is killed under it."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from babellens.capture.language_model import load
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows
from babellens.dictionaries.activations import harvest_rows
from babellens.jobs import JobContext, run_job
from babellens.jobs.ray_fanout import RayOptions
from babellens.jobs.ray_harvest import RayHarvester
from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryStore
from dictionary_fakes import write_corpus
from job_processes import cancel_with

ray = pytest.importorskip("ray")
OPTIONS = RayOptions(address="local", workers=2, threads_per_worker=1)
HOOKS = ["resid_post.1", "mlp_in.0", "mlp_out.0"]


@pytest.fixture
def one_thread():
    """The workers' thread count here too: the same float reductions, so exact equality holds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _params(tmp_path) -> dict:
    return {
        "hook": "resid_post.1",
        "width": 48,
        "k": 4,
        "corpus": write_corpus(tmp_path / "dict.jsonl", n_docs=48),
        "window_len": 32,
        "epochs": 2,
        "batch_size": 64,
        "chunk_tokens": 256,
        "lr": 3e-3,
        "eval_tokens": 256,
        "seed": 3,
        "checkpoint_every_s": 0,
    }


def _weights(db, job) -> dict[str, torch.Tensor]:
    store = DictionaryStore(db)
    (sd,) = store.load(job.summary["dictionary_id"])
    return sd.state_dict()


def _cancelled_on_ray(db, model: str, params: dict):
    """A dict_train job on Ray, cancelled after its second chunk (its checkpoint saved there)."""
    jobs = JobStore(db)
    job = jobs.create("dict_train", model, params)
    calls = {"n": 0}

    def stop_at_the_second_chunk(ctx: JobContext) -> bool:
        calls["n"] += 1
        return calls["n"] == 2

    cancelled = cancel_with(db, job.id, stop_at_the_second_chunk, ray=OPTIONS)
    assert 0 < cancelled.checkpoint_done < cancelled.total
    return job


def test_training_with_the_harvest_on_ray_gives_the_local_weights_through_cancel_and_resume(
    cluster, model_folder, tmp_path, one_thread
):
    db = open_database(f"sqlite:///{tmp_path / 'train.db'}")
    params = _params(tmp_path)
    local = run_job(db, JobStore(db).create("dict_train", model_folder, params).id)
    assert local.status == "done", local.error
    on_ray = run_job(db, _cancelled_on_ray(db, model_folder, params).id, ray=OPTIONS)
    resumed_here = run_job(db, _cancelled_on_ray(db, model_folder, params).id)  # same checkpoint
    assert on_ray.status == "done" and resumed_here.status == "done", on_ray.error
    assert on_ray.summary["executor"] == "ray" and local.summary["executor"] == "local"
    reference = _weights(db, local)
    assert reference["W_enc"].abs().sum() > 0 and local.summary["tokens_trained"] > 2 * 256
    for job in (on_ray, resumed_here):
        assert job.summary["tokens_trained"] == local.summary["tokens_trained"]
        assert job.summary["fvu"] == local.summary["fvu"]
        for name, value in _weights(db, job).items():
            torch.testing.assert_close(value, reference[name], rtol=0, atol=0)


def test_the_streamed_harvest_survives_a_killed_worker_in_chunk_order(
    cluster, model_folder, corpus_file, one_thread
):
    lm = load(model_folder, dtype="float32")
    windows = make_windows(
        load_corpus(corpus_file, split="train"), lm.tokenizer, window_len=16, max_tokens=1200
    )
    chunks = [windows[i : i + 8] for i in range(0, len(windows), 8)]
    assert len(chunks) >= 6
    with RayHarvester(model_folder, OPTIONS, dtype="float32") as harvester:
        stream = harvester.harvest(chunks, HOOKS, 64)
        got = [next(stream)]
        os.kill(ray.get(harvester.pool.actors[0].process_id.remote()), signal.SIGKILL)
        got += list(stream)
        retries = sum(harvester.pool.retries.values())
    assert retries >= 1 and len(got) == len(chunks)
    for chunk, rows in zip(chunks, got, strict=True):
        expected = harvest_rows(lm, chunk, HOOKS, 64)
        assert rows.keys() == expected.keys()
        for hook in HOOKS:
            torch.testing.assert_close(rows[hook], expected[hook], rtol=0, atol=0)
