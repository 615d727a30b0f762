"""Job records: create, progress, cancel, checkpoints, finish. Every call is its own transaction,
so a job's progress is visible to other processes (the CLI, the web app) as it happens."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select, update

from babellens.errors import InvalidInputError
from babellens.store.database import Database
from babellens.store.schema import JobRow, utcnow

__all__ = ["JOB_STATUSES", "Job", "JobStore", "latest_job", "latest_jobs", "worker_id"]

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Job(BaseModel):
    id: int
    kind: str
    model: str
    params: dict[str, Any]
    status: str
    done: int
    total: int
    rate: float
    eta_s: float | None
    error: str | None
    cancel_requested: bool
    worker: str | None
    summary: dict[str, Any]
    checkpoint_done: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        remaining = max(row.total - row.done, 0)
        eta = remaining / row.rate if row.rate > 0 and row.status == "running" else None
        fields = {name: getattr(row, name) for name in cls.model_fields if name != "eta_s"}
        return cls(**fields, eta_s=eta)


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, kind: str, model: str, params: dict[str, Any]) -> Job:
        with self.db.session() as s:
            row = JobRow(kind=kind, model=model, params=params, status="queued", summary={})
            s.add(row)
            s.flush()
            return Job.from_row(row)

    def get(self, job_id: int) -> Job:
        with self.db.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise InvalidInputError(f"no job {job_id}: see `babellens jobs list`")
            return Job.from_row(row)

    def list(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Job]:
        query = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
        if status:
            query = query.where(JobRow.status == status)
        if kind:
            query = query.where(JobRow.kind == kind)
        with self.db.session() as s:
            return [Job.from_row(r) for r in s.scalars(query)]

    def _update(self, job_id: int, **values: Any) -> None:
        with self.db.session() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id).values(**values))

    def start(self, job_id: int) -> None:
        now = utcnow()
        self._update(
            job_id,
            status="running",
            started_at=now,
            heartbeat_at=now,
            worker=worker_id(),
            error=None,
            cancel_requested=False,
            finished_at=None,
        )

    def progress(self, job_id: int, done: int, total: int, rate: float) -> bool:
        """Record progress; returns True if a cancel was requested meanwhile."""
        with self.db.session() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(done=done, total=total, rate=rate, heartbeat_at=utcnow())
            )
            return bool(s.scalar(select(JobRow.cancel_requested).where(JobRow.id == job_id)))

    def request_cancel(self, job_id: int) -> Job:
        job = self.get(job_id)
        if job.status in ("done", "failed", "cancelled"):
            raise InvalidInputError(f"job {job_id} is already {job.status}")
        if job.status == "queued":
            self._update(job_id, status="cancelled", cancel_requested=True, finished_at=utcnow())
        else:
            self._update(job_id, cancel_requested=True)
        return self.get(job_id)

    def finish(
        self,
        job_id: int,
        status: JobStatus,
        *,
        error: str | None = None,
        summary: dict[str, Any] | None = None,
        keep_checkpoint: bool = False,
    ) -> None:
        """End a job; a done job's checkpoint goes (unless its kind resumes a reopened job)."""
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
        if summary is not None:
            values["summary"] = summary
        cleared = status == "done" and not keep_checkpoint
        if cleared:
            values["checkpoint"] = None
        self._update(job_id, **values)
        if cleared:
            self.db.release_free_pages()

    def save_checkpoint(self, job_id: int, blob: bytes, done: int) -> None:
        self._update(job_id, checkpoint=blob, checkpoint_done=done, heartbeat_at=utcnow())

    def load_checkpoint(self, job_id: int) -> bytes | None:
        with self.db.session() as s:
            return s.scalar(select(JobRow.checkpoint).where(JobRow.id == job_id))

    def requeue(self, job_id: int) -> Job:
        """Make a failed, cancelled or crashed job runnable again (it resumes from its checkpoint)."""
        job = self.get(job_id)
        if job.status == "done":
            raise InvalidInputError(f"job {job_id} is already done")
        if job.status == "running" and _alive(job.worker):
            raise InvalidInputError(f"job {job_id} is still running in process {job.worker}")
        self._update(job_id, status="queued", cancel_requested=False, error=None, finished_at=None)
        return self.get(job_id)

    def reopen(self, job_id: int, params: dict[str, Any]) -> Job:
        """Queue a finished job again with new parameters, e.g. an experiment with one more
        condition: its kind resumes from what it already computed. Only a job whose kind caches
        its steps by name (``crossling``) may do this; for others, params and results would disagree."""
        job = self.get(job_id)
        if job.status in ("queued", "running") and (job.status == "queued" or _alive(job.worker)):
            raise InvalidInputError(f"job {job_id} is {job.status}: wait for it to finish first")
        self._update(
            job_id,
            params=params,
            status="queued",
            cancel_requested=False,
            error=None,
            finished_at=None,
        )
        return self.get(job_id)


def latest_jobs(db: Database, kind: str, status: str = "done") -> dict[str, Job]:
    """The newest job of ``kind`` (in ``status``) per model: the one place "latest" is decided."""
    query = select(JobRow).where(JobRow.kind == kind, JobRow.status == status).order_by(JobRow.id)
    with db.session() as s:
        return {row.model: Job.from_row(row) for row in s.scalars(query)}


def latest_job(db: Database, model: str, kind: str, status: str = "done") -> Job | None:
    """The newest job of ``kind`` (in ``status``) of one model, or None."""
    query = (
        select(JobRow)
        .where(JobRow.model == model, JobRow.kind == kind, JobRow.status == status)
        .order_by(JobRow.id.desc())
        .limit(1)
    )
    with db.session() as s:
        row = s.scalars(query).first()
        return Job.from_row(row) if row is not None else None


def _alive(worker: str | None) -> bool:
    """Whether the process that claimed a job still runs (only knowable on the same host)."""
    if not worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
