"""Printing helpers shared by every command: rich for people, ``--json`` for programs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = ["byte_progress", "console", "err_console", "print_json"]

console = Console()
err_console = Console(stderr=True)


def print_json(result: BaseModel | list[BaseModel] | dict) -> None:
    if isinstance(result, BaseModel):
        text = result.model_dump_json(indent=2)
    elif isinstance(result, list):
        text = "[" + ",\n".join(r.model_dump_json(indent=2) for r in result) + "]"
    else:
        import json

        text = json.dumps(result, indent=2)
    sys.stdout.write(text + "\n")


@contextmanager
def byte_progress(
    description: str, *, enabled: bool = True
) -> Iterator[Callable[[int, int], None]]:
    """A rich download-style bar; yields the ``(done, total)`` callback the library calls."""
    if not enabled:
        yield lambda _done, _total: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
