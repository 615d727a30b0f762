"""The feature scan, the graph comparison and explain-and-score on a real local Ray instance (two
worker processes, one instance for the module): each stores exactly what its local run stores,
and a fan-out resumed after a cancel does not recompute the items in its checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from sqlalchemy import select

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.capture.language_model import load
from babellens.control import LocalControl, StopRequested
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows
from babellens.graphs.compare import CompareReport
from babellens.graphs.transcoders import save_transcoder_dir
from babellens.jobs import JobContext, run_job
from babellens.jobs.ray_fanout import FANOUT_STATE, FanOutPool, RayOptions, local_control
from babellens.jobs.ray_scan import _NeuronScanTask, merge_states, plan_shards
from babellens.models.loading import load_tokenizer
from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryStore
from babellens.store.explanations import ExplanationRow
from babellens.store.reports import ReportStore
from cli_runner import run_cli
from dictionary_fakes import random_dictionary
from graphs.fake_transcoders import fake_transcoders
from job_processes import cancel_with

from .test_scan_jobs import _results

ray = pytest.importorskip("ray")
OPTIONS = RayOptions(address="local", workers=2, threads_per_worker=1, shards_per_worker=2)
ONE_ACTOR = RayOptions(address="local", workers=1)  # the resume test: one actor per pool
PARALLEL = {"en": "Paris is the capital of", "de": "Paris ist die Hauptstadt von"}
CONTROL = ["My favourite colour is", "Water boils at"]


@pytest.fixture
def one_thread():
    """The workers' thread count here too: the same float reductions, so exact equality holds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def transcoder_folder(model_folder, tmp_path):
    return str(save_transcoder_dir(fake_transcoders(load(model_folder), width=16), tmp_path / "tc"))


def _local_then_ray(db, kind, model, params, ray_stops=None):
    """A local job (one thread, as the workers), then the same job on Ray; with ``ray_stops``
    (a JobContext.should_stop) the Ray job is cancelled there first, then resumed on Ray."""
    jobs = JobStore(db)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = run_job(db, jobs.create(kind, model, params).id)
    finally:
        torch.set_num_threads(threads)
    job = jobs.create(kind, model, params)
    if ray_stops is not None:
        cancelled = cancel_with(db, job.id, ray_stops, ray=OPTIONS)
        assert 0 < cancelled.checkpoint_done < cancelled.total
    sharded = run_job(db, job.id, ray=OPTIONS)
    assert local.status == "done", local.error
    assert sharded.status == "done", sharded.error
    assert local.summary["executor"] == "local" and sharded.summary["executor"] == "ray"
    return local, sharded


def test_a_ray_feature_scan_cancelled_and_resumed_stores_what_the_local_scan_stores(
    cluster, model_folder, corpus_file, tmp_path
):
    db = open_database(f"sqlite:///{tmp_path / 'dict.db'}")
    d_model = load(model_folder).adapter.d_model
    sd = random_dictionary(d_model, 24, k=4, hook_in="resid_post.1", seed=5)
    info = DictionaryStore(db).save([sd], model=model_folder, source="imported")
    params = {
        "dictionary_id": info.id,
        "corpus": corpus_file,
        "k": 3,
        "window_len": 16,
        "tokens_per_batch": 64,
        "max_tokens": 1500,
        "checkpoint_every_s": 0,
    }

    def stop_after_the_first_shard(ctx: JobContext) -> bool:
        return ctx._start_done is not None  # progress came: one shard is in

    local, sharded = _local_then_ray(
        db, "dict_scan", model_folder, params, stop_after_the_first_shard
    )
    stored = _results(db, sharded.id)
    assert stored == _results(db, local.id)
    stats, windows = stored
    assert len(stats) == 24 and windows and local.summary["windows"] > 8  # shards: 2 x 2
    assert any(row[2] > 0 for row in stats)  # features fired: the top-k lists are not empty


def test_a_cancelled_fan_out_resumes_without_recomputing_its_finished_items(
    cluster, model_folder, corpus_file
):
    config = ScanConfig(corpus=corpus_file, window_len=16, k=3, tokens_per_batch=64)
    windows = make_windows(
        load_corpus(corpus_file, split="train"),
        load_tokenizer(model_folder),
        window_len=16,
        max_tokens=2000,
    )
    shards = plan_shards(windows, 64, 3)
    task = _NeuronScanTask(config.model_copy(update={"dtype": "float32"}).model_dump())
    finished: list[int] = []
    control = LocalControl(
        on_progress=lambda done, _t, _u, _m: finished.append(done),
        stop=lambda: bool(finished),
    )
    with (
        FanOutPool(model_folder, task, ONE_ACTOR, dtype="float32", control=control) as pool,
        pytest.raises(StopRequested),
    ):
        pool.map(shards, phase="shards")
    saved = control.load_state()
    assert saved is not None and saved.meta[FANOUT_STATE] == {"shards": 3}
    done_before = sorted(saved.tensors)
    assert 1 <= len(done_before) < 3 and saved.done == len(done_before)
    marker = b"kept from the checkpoint"  # not a shard state: only a resume that skips it has it
    tensors = {**saved.tensors, done_before[0]: torch.tensor(list(marker), dtype=torch.uint8)}
    control.save_state(tensors, saved.meta, saved.done)
    control.stop, finished[:] = None, []
    assert local_control(control).load_state() is None  # the local path never reads it
    with FanOutPool(model_folder, task, ONE_ACTOR, dtype="float32", control=control) as pool:
        results = pool.map(shards, phase="shards")
    kept = int(done_before[0].split("/")[1])
    assert results[kept] == marker
    assert finished[0] == len(done_before) and finished[-1] == 3
    widths = dict.fromkeys(range(3), load(model_folder).adapter.d_mlp)
    for i, shard in enumerate(shards):  # the others computed afresh: the shard's own windows
        if i != kept:
            merged = merge_states([results[i]], widths, 3, 16)
            top = merged[0].top_windows[merged[0].top_windows >= 0]
            assert {int(w) for w in top} <= {w.index for w in shard}


def _explanations(db, job_id):
    """Every stored row of the job: unit, text, scores and the full record (examples and all)."""
    with db.session() as s:
        rows = s.scalars(select(ExplanationRow).where(ExplanationRow.job_id == job_id))
        return sorted(
            (
                r.layer,
                r.unit_index,
                r.text,
                r.detection,
                r.detection_random,
                r.fuzzing,
                r.fuzzing_random,
                json.dumps(r.record, sort_keys=True),
            )
            for r in rows
        )


def test_ray_explain_and_score_stores_what_the_local_run_stores(
    cluster, model_folder, corpus_file, tmp_path
):
    db = open_database(f"sqlite:///{tmp_path / 'explain.db'}")
    sampler = {"n_train": 10, "n_test": 10, "n_non_activating": 10, "min_examples": 6}
    params = {
        "layer": 1,
        "limit": 8,
        "corpus": corpus_file,
        "corpus_tokens": 4096,
        "window_len": 48,
        "batch_units": 3,
        "sampler": {**sampler, "ctx_len": 8},
    }
    local, sharded = _local_then_ray(db, "explain", model_folder, params)
    ours = _explanations(db, sharded.id)
    assert ours == _explanations(db, local.id)
    assert len(ours) == local.summary["explained"] > 2
    assert sharded.summary["scores"] == local.summary["scores"]


def test_graph_compare_on_ray_stores_and_prints_the_local_report(
    cluster, model_folder, transcoder_folder, tmp_path, capsys, one_thread
):
    """The local command builds the graphs in process; ``--executor ray`` runs a
    ``graph_compare`` job whose graphs come from the actors: the same report, to the last bit."""
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"parallel": PARALLEL, "control": CONTROL}), encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["graph", "compare", model_folder, "--transcoders", transcoder_folder]
    args += ["--prompts", str(prompts), "--batch-size", "8", "--json", "--db", db_url]
    code, here, err = run_cli(args, capsys)
    assert code == 0, err
    code, there, err = run_cli([*args, "--executor", "ray", "--workers", "2"], capsys)
    assert code == 0, err
    assert json.loads(there) == json.loads(here)
    db = open_database(db_url)
    (job,) = JobStore(db).list()
    assert job.kind == "graph_compare" and job.summary["executor"] == "ray"
    stored = ReportStore(db).get(job.id, CompareReport)
    assert stored.model_dump(mode="json") == json.loads(here)
    assert stored.replacement_scores["en"] > 0 and len(stored.layers) == 3  # the tiny llama
