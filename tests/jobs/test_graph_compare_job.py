"""The ``graph_compare`` job kind run here: the report of ``compare_graphs``, progress per prompt,
a cancel between graphs, and its parameters validated by its model."""

from __future__ import annotations

import pytest

from babellens.capture.language_model import load
from babellens.errors import InvalidInputError
from babellens.graphs.attribution import GraphConfig
from babellens.graphs.compare import CompareReport, compare_graphs
from babellens.graphs.transcoders import load_transcoders, save_transcoder_dir
from babellens.jobs import run_job
from babellens.jobs.registry import job_kind_spec
from babellens.store import JobStore, open_database
from babellens.store.reports import ReportStore
from graphs.fake_transcoders import fake_transcoders

PARALLEL = {"en": "Paris is the capital of", "fr": "Paris est la capitale de"}
CONTROL = ["My favourite colour is", "Water boils at"]


@pytest.fixture
def setup(model_folder, tmp_path):
    folder = save_transcoder_dir(fake_transcoders(load(model_folder), width=16), tmp_path / "tc")
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    params = {
        "transcoders": str(folder),
        "prompts": PARALLEL,
        "control_prompts": CONTROL,
        "batch_size": 8,
    }
    return db, params


def test_the_job_stores_the_report_of_compare_graphs(model_folder, setup):
    db, params = setup
    seen = []
    job = JobStore(db).create("graph_compare", model_folder, params)
    finished = run_job(
        db, job.id, on_progress=lambda done, total, _rate: seen.append((done, total))
    )
    assert finished.status == "done", finished.error
    stored = ReportStore(db).get(job.id, CompareReport)
    direct = compare_graphs(
        load(model_folder, dtype="float32"),
        load_transcoders(params["transcoders"]),
        PARALLEL,
        CONTROL,
        GraphConfig(batch_size=8),
    )
    assert stored.model_dump() == direct.model_dump()
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert finished.summary["languages"] == ["en", "fr"] and finished.summary["executor"] == "local"
    assert finished.summary["replacement_scores"] == direct.replacement_scores


def test_a_cancel_stops_the_job_between_graphs(model_folder, setup):
    db, params = setup
    jobs = JobStore(db)
    job = jobs.create("graph_compare", model_folder, params)
    finished = run_job(db, job.id, on_progress=lambda *_: jobs.request_cancel(job.id))
    assert finished.status == "cancelled"
    assert finished.done == 1 and ReportStore(db).list("graph_compare") == []


def test_its_parameters_are_validated_by_its_model():
    kind = job_kind_spec("graph_compare")
    with pytest.raises(InvalidInputError, match="prompts"):
        kind.validate({"transcoders": "d", "prompts": "not a mapping"})
    with pytest.raises(InvalidInputError, match="colour: Extra inputs"):
        kind.validate({"transcoders": "d", "colour": "red"})
