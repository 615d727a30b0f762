"""``babellens mcp``: the agent tools over the Model Context Protocol (the official ``mcp`` SDK).

stdio for a local agent, or streamable HTTP: on loopback by default, beyond it only with an
access token that every request must carry (``agents/bearer.py``). Job tools exist only with
``allow_jobs`` (``--allow-jobs``) or behind that token: starting work is a decision for the
person who runs the server (or holds its token), not for whatever the agent reads. Errors a caller can fix come back as tool errors with
BabelLens's one-line message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from babellens.agents.bearer import BearerTokenGuard, check_bind
from babellens.agents.tools import AgentTools
from babellens.errors import BabelLensError

__all__ = ["build_server", "serve"]

_INSTALL = "pip install 'mcp>=2.3'"

_INSTRUCTIONS = (
    "BabelLens: an interpretability workbench. Units are MLP neurons named LAYER/INDEX "
    "(or neuron/LAYER/INDEX). Start with list_models, then search (by='text' for words, "
    "by='meaning' for a description) or list_units; read unit_dashboard for a unit's top examples "
    "and its explanations with detection/fuzzing scores beside a random explanation's score "
    "(0.5 is chance); test a hypothesis with trace_token or run_prompt. Every answer has a url."
)


def _mcp_server_class() -> Any:
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError:
        raise BabelLensError(f"the MCP server needs the mcp SDK: {_INSTALL}") from None
    return MCPServer


def _wrap(fn: Any) -> Any:
    """Our user errors become the tool's error text (the SDK hides other exceptions' text)."""
    import functools

    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BabelLensError as exc:
            raise ToolError(str(exc)) from None

    return call


def _read_tools(tools: AgentTools) -> list[Callable[..., dict[str, Any]]]:
    """The tools every agent gets: they read the store or run a prompt, and change nothing."""

    def list_models() -> dict[str, Any]:
        """Models with a finished scan: layers, units per layer, how many explanations."""
        return tools.list_models()

    def list_units(model: str, layer: int, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """A layer's units by maximum activation, with their best explanation and its score."""
        return tools.list_units(model, layer, limit, offset)

    def unit_dashboard(model: str, unit: str) -> dict[str, Any]:
        """One unit ('3/117', or a feature 'dict:1/15/417'): stats, top examples, explanations."""
        return tools.unit_dashboard(model, unit)

    def search(model: str, query: str, by: str = "text", limit: int = 10) -> dict[str, Any]:
        """Units whose explanation matches: by='text' (words) or by='meaning' (embeddings)."""
        return tools.search(model, query, by, limit)

    def run_prompt(model: str, prompt: str, layer: int, k: int = 5) -> dict[str, Any]:
        """Run a prompt live: at every token, the k most active units of the layer."""
        return tools.run_prompt(model, prompt, layer, k)

    def trace_token(model: str, prompt: str, unit: str) -> dict[str, Any]:
        """Run a prompt live: one unit's activation at every token."""
        return tools.trace_token(model, prompt, unit)

    def steer(
        model: str,
        prompt: str,
        vector: str = "caps",
        coefficient: float = 4.0,
        max_new_tokens: int = 32,
    ) -> dict[str, Any]:
        """Generate with and without a steering vector (a saved vector or a concept name)."""
        return tools.steer(model, prompt, vector, coefficient, max_new_tokens)

    return [list_models, list_units, unit_dashboard, search, run_prompt, trace_token, steer]


def _job_tools(tools: AgentTools) -> list[Callable[..., dict[str, Any]]]:
    """Start and poll jobs: only behind --allow-jobs, or the server token beyond loopback."""

    def start_job(kind: str, model: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a background job (scan, explain, ...) with its parameters; returns its id."""
        return tools.start_job(kind, model, params)

    def poll_job(job_id: int) -> dict[str, Any]:
        """A job's status, progress and, once done, its summary."""
        return tools.poll_job(job_id)

    return [start_job, poll_job]


def build_server(tools: AgentTools) -> Any:
    server = _mcp_server_class()(name="babellens", instructions=_INSTRUCTIONS)
    for fn in _read_tools(tools) + (_job_tools(tools) if tools.allow_jobs else []):
        server.tool()(_wrap(fn))
    return server


def serve(
    tools: AgentTools,
    *,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
) -> None:
    server = build_server(tools)
    if not http:
        server.run("stdio")
        return
    check_bind(host, token)
    if token is None:
        server.run("streamable-http", host=host, port=port)
        return
    import uvicorn

    app = BearerTokenGuard(server.streamable_http_app(host=host), token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
