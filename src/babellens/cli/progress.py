"""A rich progress bar for a job run in the foreground."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from babellens.cli.output import err_console

__all__ = ["job_progress"]


@contextmanager
def job_progress(
    description: str, unit: str, *, enabled: bool = True
) -> Iterator[Callable[[int, int, float], None]]:
    if not enabled:
        yield lambda _d, _t, _r: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task(description, total=None, rate="")

        def update(done: int, total: int, rate: float) -> None:
            bar.update(
                task, completed=done, total=total, rate=f"{rate:,.0f} {unit}/s" if rate else ""
            )

        yield update
