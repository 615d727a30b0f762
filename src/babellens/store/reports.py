"""Typed, versioned reports: one store API for every analysis whose result is one pydantic model.

An analysis declares its report model with a ``kind`` and a ``version`` (class variables); the
store keeps it as JSON and hands back the same model. A report of another version is refused with
a message that says how to get a current one, never misread.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import delete, select

from babellens.errors import NotFoundError
from babellens.report import Report
from babellens.store.database import Database
from babellens.store.schema import JobRow, ReportRow

__all__ = ["Report", "ReportListing", "ReportStore"]


R = TypeVar("R", bound=Report)


class ReportListing(BaseModel):
    job_id: int
    kind: str
    model: str
    version: int
    created_at: datetime


class ReportStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, job_id: int, report: Report, model: str) -> None:
        kind = type(report).report_kind
        if not kind:
            raise TypeError(f"{type(report).__name__} sets no report_kind")
        data = report.model_dump(mode="json")
        with self.db.session() as s:
            s.execute(delete(ReportRow).where(ReportRow.job_id == job_id, ReportRow.kind == kind))
            s.add(
                ReportRow(
                    job_id=job_id,
                    kind=kind,
                    version=type(report).report_version,
                    model=model,
                    report=data,
                )
            )

    def get(self, job_id: int, cls: type[R]) -> R:
        with self.db.session() as s:
            row = s.get(ReportRow, (job_id, cls.report_kind))
            if row is None:
                raise NotFoundError(f"job {job_id} has no {cls.report_kind} report")
            if row.version != cls.report_version:
                raise NotFoundError(
                    f"the {cls.report_kind} report of job {job_id} has version {row.version}; "
                    f"this BabelLens reads version {cls.report_version}: run the job again"
                )
            return cls.model_validate(row.report)

    def exists(self, job_id: int, kind: str) -> bool:
        with self.db.session() as s:
            return s.get(ReportRow, (job_id, kind)) is not None

    def list(self, kind: str, model: str | None = None) -> list[ReportListing]:
        """Stored reports of one kind, newest first (only of finished jobs)."""
        query = (
            select(ReportRow)
            .join(JobRow, JobRow.id == ReportRow.job_id)
            .where(ReportRow.kind == kind)
            .order_by(ReportRow.job_id.desc())
        )
        if model is not None:
            query = query.where(ReportRow.model == model)
        with self.db.session() as s:
            return [
                ReportListing(
                    job_id=r.job_id,
                    kind=r.kind,
                    model=r.model,
                    version=r.version,
                    created_at=r.created_at,
                )
                for r in s.scalars(query)
            ]
