"""What a running job sees: its parameters, progress reporting, cancellation and checkpoints.

A :class:`JobContext` is the :class:`~babellens.control.RunControl` of a job: analyses take it as
their control, so progress, should-stop and checkpoints (kept in the database) work the same for
every kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import BaseModel

from babellens.control import Checkpoint, StopRequested, decode_checkpoint, encode_checkpoint
from babellens.jobs.ray_scan import RayOptions
from babellens.store.database import Database
from babellens.store.jobs import Job, JobStore

__all__ = ["JobCancelled", "JobContext"]


JobCancelled = StopRequested
"""Raised inside a job when a cancel was requested; its checkpoint is kept."""


@dataclass
class JobContext:
    job: Job
    db: Database
    on_progress: Callable[[int, int, float], None] | None = None
    ray: RayOptions | None = None  # set by the ray runner: jobs that can shard do so
    progress_every_s: float = 0.5
    _cancel: bool = False
    _last_report: float = 0.0
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
            self._last_report = now
            self._cancel = self.store.progress(self.job.id, done, total, rate) or self._cancel

    def cancelled(self) -> bool:
        return self._cancel

    def should_stop(self) -> bool:
        return self._cancel

    def poll_cancelled(self) -> bool:
        """Ask the store now (for jobs whose progress reports are far apart, as on Ray)."""
        self._cancel = self._cancel or self.store.get(self.job.id).cancel_requested
        return self._cancel

    def save_checkpoint(self, blob: bytes, done: int) -> None:
        self.store.save_checkpoint(self.job.id, blob, done)

    def load_checkpoint(self) -> bytes | None:
        return self.store.load_checkpoint(self.job.id)

    # The RunControl checkpoint API (one format: safetensors with JSON metadata). The raw
    # ``save_checkpoint(blob, done)`` above stays for the scan's own blobs.
    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        self.store.save_checkpoint(self.job.id, encode_checkpoint(tensors, meta), done)

    def load_state(self) -> Checkpoint | None:
        blob = self.store.load_checkpoint(self.job.id)
        if not blob:
            return None
        tensors, meta = decode_checkpoint(blob)
        return Checkpoint(tensors, meta, self.job.checkpoint_done)
