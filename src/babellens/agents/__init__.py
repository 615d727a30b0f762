"""Tools for research agents: BabelLens over the Model Context Protocol (``babellens mcp``)."""

from babellens.agents.tools import AgentTools

__all__ = ["AgentTools"]
