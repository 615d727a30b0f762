"""The experiment as a job (kind ``safety``): the job context is the run control, so progress,
cancel and kill-then-resume work through the store's checkpoints; the report goes to the
report store, the job's summary keeps only the headline numbers."""

from __future__ import annotations

from typing import Any

from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.registry import job_kind
from babellens.safety.config import SafetyParams
from babellens.safety.experiment import run_safety
from babellens.store.reports import ReportStore

__all__ = ["run_safety_job"]


@job_kind("safety", params=SafetyParams)
def run_safety_job(ctx: JobContext) -> dict[str, Any]:
    """Safety concept directions per language: cosines, base rates and the transfer matrix."""
    params = ctx.params
    assert isinstance(params, SafetyParams)
    lm = cached_model(ctx.job.model)
    report = run_safety(lm, params, control=ctx)
    ReportStore(ctx.db).save(ctx.job.id, report, model=ctx.job.model)
    return {
        "concept": report.concept,
        "layer": report.layer,
        "langs": report.langs,
        "base": {b.lang: round(b.rate.mean, 2) for b in report.base},
    }
