"""BabelLens CLI processes to kill in the middle of a job (``kill -9``) and resume: shared by
every kind's kill-and-resume test.

Run as a script, this module is the CLI with two test-only additions: the fake explainer of
``lookups_fakes`` is registered, and with ``PAUSE_ENV`` set the job pauses that long after each
checkpoint it writes (and after its first progress report), which gives the test a moment in
the middle of a tiny job to deliver the SIGKILL. The kill itself is a real one: nothing of the
process survives but what it wrote to the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PAUSE_ENV = "BABELLENS_TEST_PAUSE_S"


def cli_process(*args: str, pause_s: float = 0.0) -> subprocess.Popen:
    """``babellens ARGS`` in a new process (the environment, and so the test home, inherited)."""
    env = dict(os.environ)
    if pause_s:
        env[PAUSE_ENV] = str(pause_s)
    return subprocess.Popen(
        [sys.executable, str(Path(__file__)), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_when(
    db, job_id: int, fraction: float, proc: subprocess.Popen, timeout: float = 120
) -> bool:
    """SIGKILL ``proc`` once the job's checkpoint passes ``fraction``; False if it finished first."""
    from babellens.store import JobStore

    store = JobStore(db)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job.total and job.checkpoint_done >= fraction * job.total and job.status == "running":
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError("the job made no progress")


def _checkpoint(store, job_id: int) -> tuple[int, bytes | None]:
    return store.get(job_id).checkpoint_done, store.load_checkpoint(job_id)


def kill_after_checkpoint(db, job_id: int, proc: subprocess.Popen, timeout: float = 300) -> bool:
    """SIGKILL ``proc`` once the running job has written a checkpoint (one newer than the one it
    started from) or, for a kind without checkpoints, reported progress; False if it ended first."""
    from babellens.store import JobStore

    store = JobStore(db)
    before = _checkpoint(store, job_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job.status == "running" and job.worker and job.worker.endswith(f":{proc.pid}"):
            now = _checkpoint(store, job_id)
            if (now[1] is not None and now != before) or (before[1] is None and job.done > 0):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError("the job wrote no checkpoint in time")


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def run_uninterrupted(db_url: str, job_id: int) -> None:
    """Run a queued job to its end in a CLI process, as the killed one will be."""
    finish(cli_process("jobs", "resume", str(job_id), "--db", db_url))


def kill_and_resume(db, db_url: str, job_id: int, kills: int = 2, pause_s: float = 1.5) -> int:
    """Start the job in a CLI process, SIGKILL it after a checkpoint up to ``kills`` times (each
    time resuming it in a new process), then let the last process finish; the kills made."""
    from babellens.store import JobStore

    made = 0
    proc = cli_process("jobs", "resume", str(job_id), "--db", db_url, pause_s=pause_s)
    for _ in range(kills):
        if not kill_after_checkpoint(db, job_id, proc):
            break
        made += 1
        assert JobStore(db).get(job_id).status == "running", "a killed job is left running"
        proc = cli_process("jobs", "resume", str(job_id), "--db", db_url, pause_s=pause_s)
    finish(proc)
    assert JobStore(db).get(job_id).status == "done"
    return made


def _pause_after_checkpoints(seconds: float) -> None:
    from babellens.jobs.context import JobContext

    save_state, progress = JobContext.save_state, JobContext.progress
    first = {"progress": True}

    def paused_save(self, tensors, meta, done):  # type: ignore[no-untyped-def]
        save_state(self, tensors, meta, done)
        time.sleep(seconds)

    def paused_progress(self, done, total, unit="", message=""):  # type: ignore[no-untyped-def]
        progress(self, done, total, unit, message)
        if first["progress"] and done > 0:
            first["progress"] = False
            time.sleep(seconds)

    JobContext.save_state = paused_save  # type: ignore[method-assign]
    JobContext.progress = paused_progress  # type: ignore[method-assign]


def _main() -> None:
    from lookups_fakes import SCRIPTS, ScriptedProvider

    SCRIPTS.setdefault("steady", ScriptedProvider("steady"))
    if os.environ.get(PAUSE_ENV):
        _pause_after_checkpoints(float(os.environ[PAUSE_ENV]))
    from babellens.cli import main

    main()


if __name__ == "__main__":
    _main()


def cancel_with(db, job_id: int, should_stop, **run_options):
    """Run the job in this process with ``should_stop(ctx)`` as its stop check, check that it
    was cancelled with a checkpoint, and requeue it; the cancelled job."""
    from babellens.jobs import JobContext, run_job
    from babellens.store import JobStore

    real = JobContext.should_stop
    JobContext.should_stop = should_stop
    try:
        cancelled = run_job(db, job_id, **run_options)
    finally:
        JobContext.should_stop = real
    assert cancelled.status == "cancelled", cancelled.error
    assert cancelled.checkpoint_done > 0
    JobStore(db).requeue(job_id)
    return cancelled


def cancel_then_resume(db, job_id: int, monkeypatch, after: int):
    """Run the job in this process until its ``after``-th stop check, check that it was
    cancelled with a checkpoint, then requeue and run it again; the resumed job."""
    from babellens.jobs import JobContext, run_job

    real, calls = JobContext.should_stop, {"n": 0}

    def stop_after(self) -> bool:
        calls["n"] += 1
        return calls["n"] >= after or real(self)

    cancel_with(db, job_id, stop_after)
    return run_job(db, job_id)
