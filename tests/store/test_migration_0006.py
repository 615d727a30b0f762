"""Migration 0006 on a database made at 0005: look-up reports move into ``reports``, steering
evaluations and cross-lingual experiments gain a report row from their summary, and the
downgrade puts the look-up reports back in their own table."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text

from babellens.crossling import ExperimentReport
from babellens.steering.evaluate import SteeringReport
from babellens.store import ReportStore, open_database
from babellens.store.lookups import LookupsStore
from crossling_reports import make_report
from lookups.test_store import _report as lookups_report

EVAL = {
    "vector": {
        "name": "caps",
        "model": "m",
        "method": "mean_diff",
        "read": "last",
        "layers": [1],
        "d_model": 8,
        "n_examples": 3,
        "data": "caps",
        "norms": {"1": 1.0},
    },
    "metric": "uppercase_fraction",
    "prompts": 2,
    "dose_response": [],
    "layer_sweep": {"1": 0.5},
    "per_prompt_effects": {},
    "mean_diff_cosine": None,
}


def _insert_job(conn, job_id: int, kind: str, summary: dict) -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    conn.execute(
        text(
            "INSERT INTO jobs (id, kind, model, params, status, done, total, rate, cancel_requested,"
            " summary, checkpoint_done, created_at, finished_at)"
            " VALUES (:id, :kind, 'm', '{}', 'done', 0, 0, 0, 0, :summary, 0, :now, :now)"
        ),
        {"id": job_id, "kind": kind, "summary": json.dumps(summary), "now": now},
    )


@pytest.fixture
def at_0005(tmp_path):
    """A database at revision 0005 with one report of each kind the migration moves."""
    from babellens.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_database(url, migrate=False)
    upgrade(db.engine, "0005")
    lookups = lookups_report("m").model_copy(update={"job_id": 1})
    crossling = make_report("m")
    with db.engine.begin() as conn:
        _insert_job(conn, 1, "lookups", {"neurons": 1, "explainer": "e", "groups": []})
        conn.execute(
            text(
                "INSERT INTO lookups_reports (job_id, version, model, created_at, report)"
                " VALUES (1, 1, 'm', :now, :report)"
            ),
            {"now": datetime(2026, 1, 2, tzinfo=UTC), "report": lookups.model_dump_json()},
        )
        _insert_job(conn, 2, "crossling", crossling.model_dump(mode="json"))
        _insert_job(conn, 3, "steering_eval", EVAL)
    db.dispose()
    return url, lookups, crossling


def test_0006_moves_every_report_into_the_report_store(at_0005):
    url, lookups, crossling = at_0005
    db = open_database(url)  # upgrades to head
    assert "lookups_reports" not in inspect(db.engine).get_table_names()
    assert LookupsStore(db).get(1) == lookups and LookupsStore(db).latest("m") == 1
    assert [r.neurons for r in LookupsStore(db).list()] == [1]
    reports = ReportStore(db)
    assert reports.get(2, ExperimentReport) == crossling
    assert reports.get(3, SteeringReport) == SteeringReport.model_validate(EVAL)
    assert [r.job_id for r in reports.list("lookups")] == [1]


def test_0006_downgrades_to_the_lookups_table(at_0005):
    from alembic import command

    from babellens.store.migrate import _config

    url, lookups, _ = at_0005
    db = open_database(url)
    command.downgrade(_config(db.engine), "0005")
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT job_id, version, report FROM lookups_reports")).all()
        kinds = conn.execute(text("SELECT kind FROM reports ORDER BY job_id")).scalars().all()
    assert [(r[0], r[1]) for r in rows] == [(1, 1)] and kinds == ["crossling", "steering_eval"]
    assert json.loads(rows[0][2]) == lookups.model_dump(mode="json")
