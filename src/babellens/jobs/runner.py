"""Run jobs: in the calling thread (the CLI), or in background threads (the web app)."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from babellens.control import StopRequested
from babellens.errors import BabelLensError
from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import model_lock
from babellens.jobs.ray_scan import RayOptions
from babellens.jobs.registry import get_job_kind
from babellens.store.database import Database
from babellens.store.jobs import Job, JobStore

__all__ = ["LocalRunner", "run_job"]


def run_job(
    db: Database,
    job_id: int,
    on_progress: Callable[[int, int, float], None] | None = None,
    ray: RayOptions | None = None,
) -> Job:
    """Run one queued job to its end; the job record says how it ended."""
    store = JobStore(db)
    job = store.get(job_id)
    if job.status != "queued":
        raise BabelLensError(
            f"job {job_id} is {job.status}, not queued: `babellens jobs resume {job_id}` re-queues it"
        )
    fn = get_job_kind(job.kind)
    store.start(job_id)
    context = JobContext(store.get(job_id), db, on_progress=on_progress, ray=ray)
    try:
        with model_lock(job.model):
            summary = fn(context)
    except StopRequested:  # a cancel, or any analysis that polled should_stop
        store.finish(
            job_id,
            "cancelled",
            error="cancelled; `babellens jobs resume` continues from the last checkpoint",
        )
    except KeyboardInterrupt:
        store.finish(
            job_id,
            "cancelled",
            error="interrupted; `babellens jobs resume` continues from the last checkpoint",
        )
        raise
    except BabelLensError as exc:
        store.finish(job_id, "failed", error=str(exc))
    except Exception as exc:  # a bug: keep the traceback where the user can see it
        store.finish(
            job_id, "failed", error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        )
    else:
        store.finish(job_id, "done", summary=summary, keep_checkpoint=context.keep_state)
    return store.get(job_id)


class LocalRunner:
    """Background threads; one job at a time by default, since a job already uses every core.
    With ``ray`` options, jobs that can shard (scans) run on a Ray cluster instead, driven from
    the same thread: progress, cancel and failure behave as for local jobs."""

    def __init__(self, db: Database, max_workers: int = 1, ray: RayOptions | None = None) -> None:
        self.db = db
        self.ray = ray
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="babellens-job")
        self._futures: dict[int, Future[Job]] = {}
        self._lock = threading.Lock()

    def submit(self, job_id: int) -> Future[Job]:
        with self._lock:
            future = self._pool.submit(run_job, self.db, job_id, None, self.ray)
            self._futures[job_id] = future
            return future

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
