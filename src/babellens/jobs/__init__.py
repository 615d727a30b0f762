"""Background jobs: registered kinds, a local runner, progress, cancel and resume."""

from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model, put_model
from babellens.jobs.ray_fanout import ActorTask, FanOutPool, RayOptions
from babellens.jobs.registry import JOB_KINDS, get_job_kind, job_kind
from babellens.jobs.runner import LocalRunner, run_job

__all__ = [
    "JOB_KINDS",
    "ActorTask",
    "FanOutPool",
    "JobContext",
    "LocalRunner",
    "RayOptions",
    "cached_model",
    "get_job_kind",
    "job_kind",
    "put_model",
    "run_job",
]
