"""Reports in the database: one row per job, the whole report as versioned JSON.

JSON rather than tables of pairs and examples because a report is written once and read whole
(or one pair of it); the ``version`` column lets a reader refuse a report it cannot read instead
of misreading it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import delete, select

from babellens.errors import InvalidInputError
from babellens.lookups.report import REPORT_VERSION, GroupSummary, LookupsReport
from babellens.store.database import Database
from babellens.store.schema import JobRow, LookupsReportRow

__all__ = ["LookupsStore", "ReportListing"]


class ReportListing(BaseModel):
    job_id: int
    model: str
    version: int
    created_at: datetime
    explainer: str
    neurons: int
    groups: list[GroupSummary]


class LookupsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, job_id: int, report: LookupsReport) -> None:
        data = report.model_dump(mode="json")
        with self.db.session() as s:
            s.execute(delete(LookupsReportRow).where(LookupsReportRow.job_id == job_id))
            s.add(
                LookupsReportRow(
                    job_id=job_id, version=report.version, model=report.model, report=data
                )
            )

    def get(self, job_id: int) -> LookupsReport:
        with self.db.session() as s:
            row = s.get(LookupsReportRow, job_id)
            if row is None:
                raise InvalidInputError(
                    f"no context look-up report for job {job_id}: `babellens lookups MODEL --list` lists the stored ones"
                )
            if row.version != REPORT_VERSION:
                raise InvalidInputError(
                    f"report {job_id} has version {row.version}; this BabelLens reads version "
                    f"{REPORT_VERSION}: rerun `babellens lookups {row.model}`"
                )
            return LookupsReport.model_validate(row.report)

    def latest(self, model: str) -> int | None:
        with self.db.session() as s:
            return s.scalar(
                select(LookupsReportRow.job_id)
                .where(LookupsReportRow.model == model)
                .order_by(LookupsReportRow.job_id.desc())
                .limit(1)
            )

    def list(self, model: str | None = None, limit: int = 100) -> list[ReportListing]:
        """Newest first, from the jobs' summaries (a report itself can be megabytes)."""
        query = (
            select(JobRow, LookupsReportRow.version, LookupsReportRow.created_at)
            .join(LookupsReportRow, JobRow.id == LookupsReportRow.job_id)
            .order_by(JobRow.id.desc())
            .limit(limit)
        )
        if model is not None:
            query = query.where(LookupsReportRow.model == model)
        with self.db.session() as s:
            rows = s.execute(query).all()
            return [
                ReportListing(
                    job_id=job.id,
                    model=job.model,
                    version=version,
                    created_at=created,
                    explainer=str(job.summary.get("explainer", "")),
                    neurons=int(job.summary.get("neurons", 0)),
                    groups=[GroupSummary.model_validate(g) for g in job.summary.get("groups", [])],
                )
                for job, version, created in rows
            ]
