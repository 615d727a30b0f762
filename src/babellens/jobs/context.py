"""What a running job sees: its parameters, progress reporting, cancellation and checkpoints.

A :class:`JobContext` is the :class:`~babellens.control.RunControl` of a job: analyses take it as
their control, so progress, should-stop and checkpoints (kept in the database, in the one format
of :func:`~babellens.control.encode_checkpoint`) work the same for every kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import BaseModel

from babellens.control import Checkpoint, decode_checkpoint, encode_checkpoint
from babellens.jobs.ray_scan import RayOptions
from babellens.store.database import Database
from babellens.store.jobs import Job, JobStore

__all__ = ["JobContext"]


@dataclass
class JobContext:
    job: Job
    db: Database
    on_progress: Callable[[int, int, float], None] | None = None
    ray: RayOptions | None = None  # set by the ray runner: jobs that can shard do so
    progress_every_s: float = 0.5
    keep_state: bool = False
    """Keep the last checkpoint when the job is done (a kind that reopens a finished job, as
    ``crossling`` does to add a condition, resumes from it)."""
    _cancel: bool = False
    _last_report: float = 0.0
    _last_poll: float = 0.0
    _started: float = field(default_factory=time.monotonic)
    _start_done: int | None = None

    @property
    def store(self) -> JobStore:
        return JobStore(self.db)

    @property
    def params(self) -> BaseModel:
        """The job's parameters, validated by its kind's parameter model."""
        from babellens.jobs.registry import job_kind_spec

        return job_kind_spec(self.job.kind).validate(self.job.params)

    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None:
        """Report progress (rate and ETA derive from it); throttled writes to the store."""
        if self._start_done is None:
            self._start_done = done
        elapsed = time.monotonic() - self._started
        rate = (done - self._start_done) / elapsed if elapsed > 0 else 0.0
        if self.on_progress is not None:
            self.on_progress(done, total, rate)
        now = time.monotonic()
        if now - self._last_report >= self.progress_every_s or done >= total:
            self._last_report = self._last_poll = now
            self._cancel = self.store.progress(self.job.id, done, total, rate) or self._cancel

    def should_stop(self) -> bool:
        """Whether a cancel was requested. Progress reports bring the answer; when they are far
        apart (a long step, a Ray shard), the store is asked at most every ``progress_every_s``."""
        now = time.monotonic()
        if not self._cancel and now - self._last_poll >= self.progress_every_s:
            self._last_poll = now
            self._cancel = self.store.get(self.job.id).cancel_requested
        return self._cancel

    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        self.store.save_checkpoint(self.job.id, encode_checkpoint(tensors, meta), done)

    def load_state(self) -> Checkpoint | None:
        blob = self.store.load_checkpoint(self.job.id)
        if not blob:
            return None
        tensors, meta = decode_checkpoint(blob)
        return Checkpoint(tensors, meta, self.store.get(self.job.id).checkpoint_done)
