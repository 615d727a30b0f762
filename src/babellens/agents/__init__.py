"""Tools for research agents: BabelLens over the Model Context Protocol (``babellens mcp``)."""

from babellens.agents.bearer import BearerTokenGuard, check_bind
from babellens.agents.tools import AgentTools

__all__ = ["AgentTools", "BearerTokenGuard", "check_bind"]
