"""The experiment as a job (kind ``crossling``): progress per step, cancel between steps and
inside LoRA training, and resume from the run folder's cached steps after a crash or cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babellens.crossling.config import ExperimentConfig
from babellens.crossling.experiment import ExperimentStopped, run_experiment
from babellens.jobs.context import JobCancelled, JobContext
from babellens.jobs.registry import job_kind
from babellens.paths import crossling_dir

__all__ = ["run_crossling_job", "run_folder"]


def run_folder(job_id: int) -> Path:
    return crossling_dir(f"job-{job_id}")


@job_kind("crossling", params=ExperimentConfig, web=False)
def run_crossling_job(ctx: JobContext) -> dict[str, Any]:
    """Fine-tune a behaviour in one language and measure, compare and steer it in the others."""
    config = ctx.params
    assert isinstance(config, ExperimentConfig)

    def progress(_label: str, done: int, total: int) -> None:
        ctx.progress(done, total)

    try:
        report = run_experiment(
            ctx.job.model,
            config,
            run_folder(ctx.job.id),
            progress=progress,
            should_stop=ctx.poll_cancelled,
        )
    except ExperimentStopped:
        raise JobCancelled from None
    return report.model_dump(mode="json")
