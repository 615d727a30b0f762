"""Reports in the database (SQLite and PostgreSQL): round trip, listing, version check."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from babellens.errors import InvalidInputError
from babellens.jobs.lookups_job import job_summary
from babellens.lookups.config import LookupsConfig
from babellens.lookups.report import (
    ExampleRecord,
    HeadLookup,
    LookupsReport,
    NeuronLookup,
    SplitInfo,
)
from babellens.lookups.summary import ablation_summary, group_summary
from babellens.store import JobStore, open_database
from babellens.store.lookups import LookupsStore
from babellens.store.schema import ReportRow


def _report(model: str) -> LookupsReport:
    ex = ExampleRecord(
        split="train",
        window=3,
        doc_id="d1",
        lang="ru",
        text="Привет <b>",
        n_tokens=4,
        activation=2.5,
        original=3.0,
        attribution=0.25,
        active=True,
        probability=0.5,
        ablation_drop=0.125,
    )
    head = HeadLookup(
        layer=1,
        head=2,
        active_fraction=0.5,
        explanation="The head is active on names.",
        score=0.75,
        n_test=4,
        examples=[ex],
    )
    neurons = [
        NeuronLookup(
            group="next_token",
            layer=2,
            neuron=7,
            token_id=9,
            token=" мир",
            congruence=4.0,
            n_train=1,
            n_test=4,
            n_dropped=0,
            heads=[head],
        )
    ]
    split = SplitInfo(
        rule="r",
        train_documents=1,
        test_documents=1,
        train_windows=2,
        test_windows=2,
        train_source="targeted pass",
        test_source="targeted pass",
    )
    return LookupsReport(
        model=model,
        config=LookupsConfig(layers=[2]),
        explainer="e",
        scorer="s",
        layers=[2],
        split=split,
        groups=[group_summary(neurons, "next_token")],
        ablation=[ablation_summary(neurons, "next_token")],
        neurons=neurons,
    )


def test_reports_round_trip_and_list(db_url):
    db = open_database(db_url)
    jobs, store = JobStore(db), LookupsStore(db)
    ids = []
    for model in ("m/a", "m/b", "m/a"):
        job = jobs.create("lookups", model, {})
        report = _report(model).model_copy(update={"job_id": job.id})
        store.save(job.id, report)
        jobs.finish(job.id, "done", summary=job_summary(report))
        ids.append(job.id)
    assert store.get(ids[0]) == _report("m/a").model_copy(update={"job_id": ids[0]})
    store.save(ids[0], store.get(ids[0]))  # saving again replaces
    listing = store.list()
    assert [r.job_id for r in listing] == ids[::-1]
    assert [r.job_id for r in store.list("m/a")] == [ids[2], ids[0]] and store.latest("m/a") == ids[
        2
    ]
    assert listing[0].groups[0].score.mean == 0.75 and listing[0].neurons == 1
    assert store.latest("m/c") is None


def test_unknown_and_future_reports_are_refused(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(InvalidInputError, match="no context look-up report for job 5"):
        LookupsStore(db).get(5)
    job = JobStore(db).create("lookups", "m", {})
    LookupsStore(db).save(job.id, _report("m"))
    with db.session() as s:
        s.execute(update(ReportRow).where(ReportRow.kind == "lookups").values(version=99))
    with pytest.raises(InvalidInputError, match="version 99"):
        LookupsStore(db).get(job.id)
