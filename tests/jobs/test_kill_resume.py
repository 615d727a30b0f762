"""``kill -9`` in the middle of every long job kind, then ``babellens jobs resume ID``: the job
ends with exactly the result of an uninterrupted run (both run as CLI processes, so they share
the thread count and every other setting). The scan's version, with kills at random points,
is in ``test_scan_jobs.py``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from babellens.store import JobStore, ReportStore, open_database
from job_processes import kill_and_resume, run_uninterrupted


@dataclass(frozen=True)
class Kind:
    name: str
    params: Callable[[Any, str, Any], dict[str, Any]]  # (tmp_path, model folder, db) -> params
    result: Callable[[Any, int], Any]  # (db, job id) -> what must be equal
    label: str = ""  # the test id, where one kind is tested twice

    @property
    def id(self) -> str:
        return self.label or self.name


def _steering_params(_tmp, _model, _db) -> dict[str, Any]:
    return {"vector": "caps", "prompts": 2, "coefficients": [-2.0, 2.0], "max_new_tokens": 4}


def _steering_result(db, job_id):
    from babellens.steering.evaluate import SteeringReport

    return ReportStore(db).get(job_id, SteeringReport).model_dump(mode="json")


def _lookups_params(tmp, _model, _db) -> dict[str, Any]:
    from lookups_fakes import tiny_config, write_corpus

    corpus = write_corpus(tmp / "lookups.jsonl")
    return tiny_config(corpus, explainer="fake:steady").model_dump(mode="json")


def _lookups_result(db, job_id):
    from babellens.store.lookups import LookupsStore

    report = LookupsStore(db).get(job_id)
    data = report.model_dump(mode="json", exclude={"job_id", "timings"})
    for n in data["neurons"]:
        n["seconds"], n["phase_seconds"] = 0, {}
    return data


def _crossling_params(_tmp, _model, _db) -> dict[str, Any]:
    pytest.importorskip("peft")
    from crossling.test_experiment import tiny_config

    config = tiny_config(eval_langs=["de"], steering=False, logit_lens_targets=[])
    return config.model_dump(mode="json")


def _crossling_result(db, job_id):
    from babellens.crossling import ExperimentReport

    report = ReportStore(db).get(job_id, ExperimentReport)
    return report.model_dump_json(exclude={"timings_s", "adapters"})  # NaN-safe, as text


def _safety_params(_tmp, _model, _db) -> dict[str, Any]:
    from babellens.safety import SafetyParams

    return SafetyParams(
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


def _safety_result(db, job_id):
    from babellens.safety import SafetyReport

    return ReportStore(db).get(job_id, SafetyReport).model_dump_json(exclude={"seconds"})


def _dict_train_params(tmp, _model, _db) -> dict[str, Any]:
    from dictionary_fakes import write_corpus

    corpus = write_corpus(tmp / "dict.jsonl")
    return {
        "hook": "resid_post.1",
        "width": 48,
        "k": 4,
        "corpus": corpus,
        "window_len": 32,
        "batch_size": 64,
        "chunk_tokens": 256,
        "lr": 3e-3,
        "eval_tokens": 256,
        "seed": 3,
        "checkpoint_every_s": 0,
    }


def _dict_train_result(db, job_id):
    from babellens.store.dictionaries import DictionaryStore

    store = DictionaryStore(db)
    info = store.get(JobStore(db).get(job_id).summary["dictionary_id"])
    weights = {k: v.clone() for sd in store.load(info.id) for k, v in sd.state_dict().items()}
    return info.metrics["eval"], info.tokens_trained, weights


def _graph_params(tmp, model, _db) -> dict[str, Any]:
    from babellens.capture.language_model import load
    from babellens.graphs.transcoders import save_transcoder_dir
    from graphs.fake_transcoders import fake_transcoders

    folder = save_transcoder_dir(fake_transcoders(load(model), width=16), tmp / "tcs")
    return {"prompt": "Paris is", "transcoders": str(folder), "batch_size": 8}


def _graph_result(db, job_id):
    from babellens.graphs.report import GraphReport

    data = ReportStore(db).get(job_id, GraphReport).model_dump(mode="json")
    data["metadata"].pop("slug")  # named after the time it was made
    return json.dumps(data)


def _graph_compare_params(tmp, model, db) -> dict[str, Any]:
    params = _graph_params(tmp, model, db)
    del params["prompt"]
    return {
        **params,
        "prompts": {"en": "Paris is the capital of", "de": "Paris ist die Hauptstadt von"},
        "control_prompts": ["Water boils at", "My favourite colour is"],
    }


def _graph_compare_result(db, job_id):
    from babellens.graphs.compare import CompareReport

    return json.dumps(ReportStore(db).get(job_id, CompareReport).model_dump(mode="json"))


def _dict_scan_params(tmp, model, db) -> dict[str, Any]:
    from babellens.jobs import run_job

    params = _dict_train_params(tmp, model, db)
    trained = run_job(db, JobStore(db).create("dict_train", model, params).id)
    assert trained.status == "done", trained.error
    corpus = params["corpus"]
    return {
        "dictionary_id": trained.summary["dictionary_id"],
        "corpus": corpus,
        "k": 3,
        "window_len": 16,
        "tokens_per_batch": 64,
        "checkpoint_every_s": 0,
    }


def _scan_result(db, job_id):
    from jobs.test_scan_jobs import _results

    return _results(db, job_id)


def _explain_params(tmp, _model, _db) -> dict[str, Any]:
    from dictionary_fakes import write_corpus

    corpus = write_corpus(tmp / "explain.jsonl")
    sampler = {"n_train": 10, "n_test": 10, "n_non_activating": 10, "min_examples": 6}
    return {
        "layer": 1,
        "limit": 8,
        "corpus": corpus,
        "corpus_tokens": 4096,
        "window_len": 48,
        "batch_units": 2,
        "sampler": {**sampler, "ctx_len": 8},
    }


def _explain_result(db, job_id):
    from babellens.store.explanations import ExplanationStore

    model = JobStore(db).get(job_id).model
    return sorted(
        (e.unit.key, e.text, e.detection, e.detection_random, e.fuzzing, e.fuzzing_random)
        for e in ExplanationStore(db).for_layer(model, 1).values()
        if e.job_id == job_id
    )


def _explain_set_params(tmp, model, db) -> dict[str, Any]:
    from babellens.store.dictionaries import DictionaryStore
    from dictionary_fakes import random_dictionary

    members = [
        random_dictionary(d_in=32, width=8, k=3, hook_in=f"resid_post.{i}", seed=2 + i)
        for i in range(2)
    ]
    pair = DictionaryStore(db).save(members, model=model, source="trained")
    params = _explain_params(tmp, model, db)
    del params["layer"], params["limit"]
    return {**params, "dictionary": pair.id}  # no member: the whole set, member by member


def _explain_set_result(db, job_id):
    from babellens.store.explanations import ExplanationStore

    rows = [
        [u.model_dump(mode="json") for u in ExplanationStore(db).of_job(job_id, member)]
        for member in (0, 1)
    ]
    assert all(rows), "a member of the set has no explained feature: nothing to compare"
    return rows


KINDS = [
    Kind("steering_eval", _steering_params, _steering_result),
    Kind("lookups", _lookups_params, _lookups_result),
    Kind("crossling", _crossling_params, _crossling_result),
    Kind("safety", _safety_params, _safety_result),
    Kind("dict_train", _dict_train_params, _dict_train_result),
    Kind("dict_scan", _dict_scan_params, _scan_result),
    Kind("graph", _graph_params, _graph_result),
    Kind("graph_compare", _graph_compare_params, _graph_compare_result),
    Kind("explain", _explain_params, _explain_result),
    Kind("explain", _explain_set_params, _explain_set_result, label="explain_set"),
]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return a == b


@pytest.mark.slow  # four CLI processes per kind: minutes on two cores
@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
def test_a_job_killed_mid_run_resumes_to_the_uninterrupted_result(
    kind: Kind, model_folder, tmp_path
):
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    db = open_database(url)
    jobs = JobStore(db)
    params = kind.params(tmp_path, model_folder, db)
    reference = jobs.create(kind.name, model_folder, params)
    run_uninterrupted(url, reference.id)
    expected = kind.result(db, reference.id)  # before the victim's results shadow any of it
    victim = jobs.create(kind.name, model_folder, params)
    kills = kill_and_resume(db, url, victim.id)
    assert kills >= 1, "the job finished before a kill could land"
    assert _equal(kind.result(db, victim.id), expected)
