"""``babellens serve``: the web app on http://127.0.0.1:8000."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.cli.options import DbOpt
from babellens.cli.output import console

__all__ = ["serve", "serve_app"]


def serve_app(
    db: str | None = None,
    host: str | None = None,
    port: int | None = None,
    token: str | None = None,
) -> None:
    """Build the app from the environment plus these overrides, print its URL, serve until ^C."""
    import uvicorn

    from babellens.store import open_database
    from babellens.web import WebSettings, create_app

    settings = WebSettings.from_env(db=db, host=host, port=port, token=token)
    database = open_database(settings.db)
    app = create_app(settings, database)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    console.print(
        f"\n[bold]BabelLens is running at http://{shown}:{settings.port}[/] (database {database.url}); Ctrl+C stops it."
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


def serve(
    db: DbOpt = None,
    host: Annotated[str | None, typer.Option(help="Interface (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8000).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Access token for mutating routes (needed beyond loopback); or BABELLENS_TOKEN."
        ),
    ] = None,
) -> None:
    """Serve the web app: neuron dashboards, live prompts, jobs and the JSON API."""
    serve_app(db=db, host=host, port=port, token=token)
