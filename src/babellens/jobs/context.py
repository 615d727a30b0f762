"""What a running job sees: its parameters, progress reporting, cancellation and checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from babellens.jobs.ray_scan import RayOptions
from babellens.store.database import Database
from babellens.store.jobs import Job, JobStore

__all__ = ["JobCancelled", "JobContext"]


class JobCancelled(Exception):
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

    def progress(self, done: int, total: int) -> None:
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

    def poll_cancelled(self) -> bool:
        """Ask the store now (for jobs whose progress reports are far apart, as on Ray)."""
        self._cancel = self._cancel or self.store.get(self.job.id).cancel_requested
        return self._cancel

    def save_checkpoint(self, blob: bytes, done: int) -> None:
        self.store.save_checkpoint(self.job.id, blob, done)

    def load_checkpoint(self) -> bytes | None:
        return self.store.load_checkpoint(self.job.id)
