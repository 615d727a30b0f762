"""The job a report command names, checked once: the right kind, and finished when it must be."""

from __future__ import annotations

from babellens.errors import InvalidInputError
from babellens.store import Database, Job, JobStore

__all__ = ["job_of_kind"]


def job_of_kind(database: Database, run_id: int, kind: str, what: str, *, done: bool) -> Job:
    """Job ``run_id`` if it is a ``kind`` job (and finished, with ``done``); else one line that
    says what to do."""
    job = JobStore(database).get(run_id)
    if job.kind != kind:
        raise InvalidInputError(f"job {run_id} is a {job.kind} job, not a {what}")
    if done and job.status != "done":
        raise InvalidInputError(
            f"job {run_id} is {job.status}: wait for it, or `babellens jobs resume {run_id}`"
        )
    return job
