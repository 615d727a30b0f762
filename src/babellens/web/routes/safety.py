"""Safety concepts across languages: the list of finished experiments and each one's report."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from babellens.safety.report import SafetyReport
from babellens.store import Job, JobStore
from babellens.store.reports import ReportStore
from babellens.web.deps import DbDep, JobId
from babellens.web.pages import page
from babellens.web.queries import finished_job

router = APIRouter()


class SafetyRun(BaseModel):
    """A finished experiment in the list (its own name: another ``ReportListing`` exists)."""

    job_id: int
    model: str
    created_at: datetime


class SafetyListPage(BaseModel):
    reports: list[SafetyRun] = Field(description="Finished experiments, newest first")
    runs: list[Job] = Field(description="Safety jobs in any state, newest first")


class SafetyReportPage(BaseModel):
    job: Job
    report: SafetyReport


@page(router, "/safety", "safety.html", title="Safety", nav=32)
def safety_page(db: DbDep) -> SafetyListPage:
    return SafetyListPage(
        reports=[
            SafetyRun(job_id=r.job_id, model=r.model, created_at=r.created_at)
            for r in ReportStore(db).list(SafetyReport.report_kind)
        ],
        runs=JobStore(db).list(kind="safety", limit=100),
    )


@page(router, "/safety/{job_id}", "safety_report.html", title="Safety experiment")
def safety_report_page(db: DbDep, job_id: JobId) -> SafetyReportPage:
    job = finished_job(db, job_id, "safety", "safety experiment")
    return SafetyReportPage(job=job, report=ReportStore(db).get(job_id, SafetyReport))
