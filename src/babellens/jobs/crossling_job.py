"""The experiment as a job (kind ``crossling``): progress per step, cancel between steps and
inside LoRA training, and resume from the steps in the job's checkpoint after a crash or
cancel. The checkpoint outlives the finished job, so an extended run (one more training
language) reuses every step it already has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babellens.crossling.config import ExperimentConfig
from babellens.crossling.experiment import run_experiment
from babellens.jobs.context import JobContext
from babellens.jobs.registry import job_kind
from babellens.paths import crossling_dir
from babellens.store.reports import ReportStore

__all__ = ["run_crossling_job", "run_folder"]


def run_folder(job_id: int) -> Path:
    """Where the job's LoRA adapters live (peft folders; everything else is in the database)."""
    return crossling_dir(f"job-{job_id}")


@job_kind("crossling", params=ExperimentConfig, web=False)
def run_crossling_job(ctx: JobContext) -> dict[str, Any]:
    """Fine-tune a behaviour in one language and measure, compare and steer it in the others."""
    config = ctx.params
    assert isinstance(config, ExperimentConfig)
    ctx.keep_state = True
    report = run_experiment(ctx.job.model, config, run_folder(ctx.job.id), control=ctx)
    ReportStore(ctx.db).save(ctx.job.id, report, model=ctx.job.model)
    return {
        "conditions": [c.condition for c in report.conditions],
        "train_langs": config.train_langs,
        "eval_langs": config.eval_langs,
        "adapters": len(report.adapters),
    }
