"""``babellens jobs list|show|cancel|resume``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from babellens.cli.options import DbOpt, JsonOpt
from babellens.cli.output import console, print_json
from babellens.cli.progress import job_progress
from babellens.errors import BabelLensError
from babellens.jobs import run_job
from babellens.store import JobStore, open_database
from babellens.store.jobs import Job

app = typer.Typer(help="Background jobs: list, inspect, cancel, resume.", no_args_is_help=True)
JobArg = Annotated[int, typer.Argument(help="Job id.")]


def _print_job(job: Job) -> None:
    pct = f"{job.fraction:.0%}" if job.total else ""
    eta = f", ETA {job.eta_s:.0f}s" if job.eta_s else ""
    console.print(
        f"job {job.id} [bold]{job.status}[/] {job.kind} {job.model} {pct} ({job.done:,}/{job.total:,}{eta})"
    )
    if job.error:
        console.print(f"[red]{job.error}[/]", highlight=False)


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    db: DbOpt = None,
    json: JsonOpt = False,
) -> None:
    """The most recent jobs."""
    jobs = JobStore(open_database(db)).list(status=status, limit=limit)
    if json:
        print_json(jobs)
        return
    table = Table(title="jobs")
    for col in ("id", "kind", "model", "status", "progress", "created"):
        table.add_column(col)
    for j in jobs:
        table.add_row(
            str(j.id),
            j.kind,
            j.model,
            j.status,
            f"{j.fraction:.0%}" if j.total else "",
            j.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@app.command("show")
def show(job_id: JobArg, db: DbOpt = None, json: JsonOpt = False) -> None:
    """One job: status, progress, error, summary."""
    job = JobStore(open_database(db)).get(job_id)
    if json:
        print_json(job)
    else:
        _print_job(job)


@app.command("cancel")
def cancel(job_id: JobArg, db: DbOpt = None, json: JsonOpt = False) -> None:
    """Ask a job to stop at its next batch (it keeps its checkpoint)."""
    job = JobStore(open_database(db)).request_cancel(job_id)
    if json:
        print_json(job)
    else:
        _print_job(job)


@app.command("resume")
def resume(job_id: JobArg, db: DbOpt = None, json: JsonOpt = False) -> None:
    """Re-run a failed, cancelled or crashed job here, from its last checkpoint."""
    database = open_database(db)
    job = JobStore(database).requeue(job_id)
    with job_progress(f"{job.kind} {job.model} (resumed)", "", enabled=not json) as bar:
        finished = run_job(database, job_id, on_progress=bar)
    if json:
        print_json(finished)
    else:
        _print_job(finished)
    if finished.status != "done":
        raise BabelLensError(
            f"job {job_id} {finished.status}: {(finished.error or '').splitlines()[0]}"
        )


@app.command("kinds")
def kinds(json: JsonOpt = False) -> None:
    """Every job kind, with its parameters (defaults and limits come from its parameter model)."""
    from babellens.jobs.registry import job_kind_spec, job_kinds

    specs = [job_kind_spec(name) for name in job_kinds()]
    if json:
        print_json([k.info() for k in specs])
        return
    for k in specs:
        console.print(f"[bold]{k.name}[/]  {k.description}")
        for name, field in k.params.model_fields.items():
            default = field.get_default(call_default_factory=True)
            console.print(
                f"  {name} = {default!r}  [dim]{field.description or ''}[/]", highlight=False
            )
