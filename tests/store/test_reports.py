"""The typed report store: round trip, kinds kept apart, other versions refused."""

from __future__ import annotations

from typing import ClassVar

import pytest

from babellens.errors import NotFoundError
from babellens.store import JobStore, Report, ReportStore, open_database


class _Curve(Report):
    report_kind: ClassVar[str] = "test_curve"
    report_version: ClassVar[int] = 2
    points: list[float]


class _Other(Report):
    report_kind: ClassVar[str] = "test_other"
    name: str


def _db(tmp_path):
    return open_database(f"sqlite:///{tmp_path / 'r.db'}")


def test_a_report_comes_back_as_the_model_it_was(tmp_path):
    db = _db(tmp_path)
    job = JobStore(db).create("scan", "m", {})
    store = ReportStore(db)
    store.save(job.id, _Curve(points=[0.5, 0.25]), model="m")
    store.save(job.id, _Other(name="x"), model="m")
    assert store.get(job.id, _Curve) == _Curve(points=[0.5, 0.25])
    assert store.get(job.id, _Other).name == "x"
    store.save(job.id, _Curve(points=[1.0]), model="m")  # replaces, does not add
    assert store.get(job.id, _Curve).points == [1.0]
    assert [(r.job_id, r.kind, r.version) for r in store.list("test_curve")] == [
        (job.id, "test_curve", 2)
    ]
    assert store.list("test_curve", model="other") == []


def test_a_missing_or_other_version_report_is_not_found(tmp_path):
    db = _db(tmp_path)
    job = JobStore(db).create("scan", "m", {})
    store = ReportStore(db)
    with pytest.raises(NotFoundError, match="no test_curve report"):
        store.get(job.id, _Curve)
    store.save(job.id, _Curve(points=[1.0]), model="m")

    class _Newer(_Curve):
        report_version: ClassVar[int] = 3

    with pytest.raises(NotFoundError, match="version 2; this BabelLens reads version 3"):
        store.get(job.id, _Newer)
