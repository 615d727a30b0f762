"""Scans on a real local Ray instance (two worker processes): exactly the local result, also when
a worker is killed mid-job."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.capture.language_model import load
from babellens.control import LocalControl
from babellens.data.corpus import load_corpus
from babellens.data.windows import batches, make_windows
from babellens.jobs import run_job
from babellens.jobs.ray_scan import RayOptions, plan_shards, ray_scan
from babellens.store import JobStore, open_database

from .test_scan_jobs import _results

ray = pytest.importorskip("ray")
CONFIG = {"window_len": 16, "k": 3, "tokens_per_batch": 64, "checkpoint_every_s": 0}
OPTIONS = RayOptions(address="local", workers=2, threads_per_worker=1, shards_per_worker=3)


@pytest.fixture
def scan_input(model_folder, corpus_file):
    config = ScanConfig(corpus=corpus_file, **CONFIG)
    lm = load(model_folder)
    windows = make_windows(load_corpus(corpus_file, split="train"), lm.tokenizer, window_len=16)
    return lm, windows, config


def _local_states(lm, windows, config):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: the same float reductions
    try:
        scan = NeuronScan(lm, windows, config)
        assert scan.run()
    finally:
        torch.set_num_threads(threads)
    return {layer: acc.state_dict() for layer, acc in scan.accumulators.items()}


def _assert_equal(sharded, local):
    assert sorted(sharded) == sorted(local)
    for layer, acc in sharded.items():
        ours, ref = acc.state_dict(), local[layer]
        for key in (
            "top_values",
            "top_windows",
            "top_positions",
            "top_acts",
            "hist",
            "act_max",
            "n_tokens",
        ):
            assert torch.equal(ours[key], ref[key]), (layer, key)
        torch.testing.assert_close(ours["act_sum"], ref["act_sum"], rtol=1e-12, atol=1e-12)


def test_shards_are_runs_of_whole_local_batches(scan_input):
    _, windows, config = scan_input
    starts = {int(b.indices[0]) for b in batches(windows, tokens_per_batch=config.tokens_per_batch)}
    shards = plan_shards(windows, config.tokens_per_batch, 6)
    assert len(shards) == 6 and [w for s in shards for w in s] == list(windows)
    assert all(s[0].index in starts for s in shards)


def test_a_sharded_scan_equals_the_local_scan(cluster, scan_input):
    lm, windows, config = scan_input
    seen = []
    control = LocalControl(on_progress=lambda d, t, _unit, _message: seen.append((d, t)))
    result = ray_scan(lm.name, windows, config, OPTIONS, control=control)
    _assert_equal(result.accumulators, _local_states(lm, windows, config))
    assert result.shards == 6 and result.retries == 0
    assert seen[-1][0] == seen[-1][1] == sum(w.n_tokens for w in windows)
    assert result.model_summary["d_mlp"] == lm.adapter.d_mlp


def test_killing_a_worker_mid_job_still_gives_the_exact_result(cluster, scan_input):
    lm, windows, config = scan_input

    def kill_one(actors):
        pid = ray.get(actors[0].process_id.remote())
        os.kill(pid, signal.SIGKILL)

    result = ray_scan(lm.name, windows, config, OPTIONS, on_dispatch=kill_one)
    assert result.retries >= 1
    _assert_equal(result.accumulators, _local_states(lm, windows, config))


def test_a_ray_job_stores_what_a_local_job_stores(cluster, model_folder, corpus_file, tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'ray.db'}")
    jobs = JobStore(db)
    params = ScanConfig(corpus=corpus_file, **CONFIG).model_dump()
    local = jobs.create("scan", model_folder, params)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run_job(db, local.id).status == "done"
    finally:
        torch.set_num_threads(threads)
    sharded = jobs.create("scan", model_folder, params)
    finished = run_job(db, sharded.id, ray=OPTIONS)
    assert finished.status == "done", finished.error
    assert finished.summary["executor"] == "ray" and finished.summary["shards"] == 6
    assert _results(db, sharded.id) == _results(db, local.id)


def test_cancel_stops_a_ray_job(cluster, model_folder, corpus_file, tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'cancel.db'}")
    jobs = JobStore(db)
    job = jobs.create("scan", model_folder, ScanConfig(corpus=corpus_file, **CONFIG).model_dump())
    calls = []

    def cancel_on_first_progress(done, total, rate):
        calls.append(done)
        if len(calls) == 1:
            jobs.request_cancel(job.id)

    finished = run_job(db, job.id, on_progress=cancel_on_first_progress, ray=OPTIONS)
    assert finished.status == "cancelled"
