"""Context look-up reports: kept by :class:`~babellens.store.reports.ReportStore` (kind
``lookups``) like every other report; this adds the listing the look-up pages and CLI show
(explainer, neurons, group scores, read from the jobs' short summaries, since a report itself
can be megabytes) and the messages that name the look-up commands."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from babellens.errors import NotFoundError
from babellens.lookups.report import GroupSummary, LookupsReport
from babellens.store.database import Database
from babellens.store.reports import ReportStore
from babellens.store.schema import JobRow, ReportRow

__all__ = ["LookupsStore", "ReportListing"]

_KIND = LookupsReport.report_kind


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
        self.reports = ReportStore(db)

    def save(self, job_id: int, report: LookupsReport) -> None:
        self.reports.save(job_id, report, model=report.model)

    def get(self, job_id: int) -> LookupsReport:
        if not self.reports.exists(job_id, _KIND):
            raise NotFoundError(
                f"no context look-up report for job {job_id}: `babellens lookups MODEL --list` lists the stored ones"
            )
        return self.reports.get(job_id, LookupsReport)

    def latest(self, model: str) -> int | None:
        listing = self.reports.list(_KIND, model=model)
        return listing[0].job_id if listing else None

    def list(self, model: str | None = None, limit: int = 100) -> list[ReportListing]:
        """Newest first, from the jobs' summaries (a report itself can be megabytes)."""
        query = (
            select(JobRow, ReportRow.version, ReportRow.created_at)
            .join(ReportRow, JobRow.id == ReportRow.job_id)
            .where(ReportRow.kind == _KIND)
            .order_by(JobRow.id.desc())
            .limit(limit)
        )
        if model is not None:
            query = query.where(ReportRow.model == model)
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
