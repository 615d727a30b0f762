"""``babellens mcp``: serve the agent tools over MCP (stdio, or streamable HTTP on loopback)."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.cli.options import DbOpt

__all__ = ["mcp"]


def mcp(
    http: Annotated[bool, typer.Option("--http", help="Streamable HTTP instead of stdio.")] = False,
    host: Annotated[
        str, typer.Option(help="HTTP interface; beyond loopback only with --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 8765,
    allow_jobs: Annotated[
        bool, typer.Option("--allow-jobs", help="Expose start_job and poll_job to the agent.")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="BABELLENS_TOKEN",
            help="Access token every HTTP request must send (Bearer); needed beyond loopback, "
            "and it enables the job tools.",
        ),
    ] = None,
    web_url: Annotated[
        str, typer.Option(help="Where `babellens serve` runs, for the links in answers.")
    ] = "http://127.0.0.1:8000",
    db: DbOpt = None,
) -> None:
    """Serve BabelLens to research agents over the Model Context Protocol."""
    from babellens.agents.bearer import check_bind
    from babellens.agents.server import serve
    from babellens.agents.tools import AgentTools
    from babellens.store import open_database

    if http:
        check_bind(host, token)
    jobs = allow_jobs or (http and token is not None)
    tools = AgentTools(open_database(db), allow_jobs=jobs, base_url=web_url)
    try:
        serve(tools, http=http, host=host, port=port, token=token if http else None)
    finally:
        tools.close()
