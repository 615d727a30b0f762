from __future__ import annotations

import pytest

from babellens.capture.language_model import load
from babellens.errors import InvalidInputError
from babellens.graphs.build import build_graph
from babellens.graphs.report import GraphReport
from babellens.graphs.transcoders import load_transcoders, save_transcoder_dir
from babellens.jobs import run_job
from babellens.jobs.registry import job_kind_spec
from babellens.store import JobStore, open_database
from babellens.store.reports import ReportStore
from graphs.fake_transcoders import fake_transcoders


def test_the_graph_job_stores_the_graph_as_a_typed_report(model_folder: str, tmp_path) -> None:
    lm = load(model_folder)
    folder = str(save_transcoder_dir(fake_transcoders(lm, width=16), tmp_path / "tcs"))
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    params = {"prompt": "Paris is", "transcoders": folder, "batch_size": 8}
    job = JobStore(db).create("graph", model_folder, params)
    finished = run_job(db, job.id)
    assert finished.status == "done", finished.error
    stored = ReportStore(db).get(job.id, GraphReport)
    direct = build_graph(lm, load_transcoders(folder), "Paris is", transcoders_id=folder).report
    assert [n.node_id for n in stored.nodes] == [n.node_id for n in direct.nodes]
    assert [link.weight for link in stored.links] == pytest.approx(
        [lk.weight for lk in direct.links]
    )
    assert finished.summary["links"] == len(stored.links)


def test_graph_job_parameters_are_validated_by_its_model() -> None:
    kind = job_kind_spec("graph")
    with pytest.raises(InvalidInputError, match="node_threshold"):
        kind.validate({"prompt": "x", "transcoders": "d", "node_threshold": 2})
    with pytest.raises(InvalidInputError, match="colour: Extra inputs"):
        kind.validate({"prompt": "x", "transcoders": "d", "colour": "red"})
