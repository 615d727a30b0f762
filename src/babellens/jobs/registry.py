"""Job kinds registered by name, so the CLI, the web app and remote runners create them alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from babellens.errors import InvalidInputError

if TYPE_CHECKING:
    from babellens.jobs.context import JobContext

__all__ = ["JOB_KINDS", "JobFunction", "get_job_kind", "job_kind", "job_kinds"]

JobFunction = Callable[["JobContext"], dict[str, Any]]
"""Runs a job to completion (or until cancelled) and returns its summary."""

JOB_KINDS: dict[str, JobFunction] = {}


def job_kind(name: str) -> Callable[[JobFunction], JobFunction]:
    def register(fn: JobFunction) -> JobFunction:
        JOB_KINDS[name] = fn
        return fn

    return register


def get_job_kind(name: str) -> JobFunction:
    from babellens.jobs import kinds  # noqa: F401 - registers the built-in kinds

    try:
        return JOB_KINDS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown job kind {name!r}: one of {', '.join(sorted(JOB_KINDS))}"
        ) from None


def job_kinds() -> list[str]:
    """Every registered kind's name, the built-in ones included."""
    from babellens.jobs import kinds  # noqa: F401 - registers the built-in kinds

    return sorted(JOB_KINDS)
