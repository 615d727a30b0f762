"""The agent session of docs/agents.md: the questions an agent asks ``babellens mcp``, through
the MCP SDK's own client (in process), printed as a transcript.

    PYTHONPATH=src python benchmarks/agent_session.py --db sqlite:///demo.db --model smollm2-135m
"""

from __future__ import annotations

import argparse
import json

import anyio
from mcp import Client

from babellens.agents.server import build_server
from babellens.agents.tools import AgentTools
from babellens.store import open_database


def _show(name: str, args: dict, result) -> dict:
    data = result.structured_content or json.loads(result.content[0].text)
    data = data.get("result", data)
    print(f"\n>>> {name}({json.dumps(args, ensure_ascii=False)})")
    print(json.dumps(data, ensure_ascii=False, indent=1)[:1800])
    return data


async def session(tools: AgentTools, model: str, layer: int, prompt: str) -> None:
    async with Client(build_server(tools)) as client:
        calls = [("list_models", {})]
        for name, args in calls:
            _show(name, args, await client.call_tool(name, args))
        hits: list[dict] = []
        for query, by in (("Russian dates", "meaning"), ("марта", "text"), ("года", "text")):
            args = {"model": model, "query": query, "by": by, "limit": 5}
            data = _show("search", args, await client.call_tool("search", args))
            hits = hits or data.get("hits") or []
        unit = hits[0]["unit"] if hits else f"{layer}/0"
        args = {"model": model, "unit": unit}
        _show("unit_dashboard", args, await client.call_tool("unit_dashboard", args))
        args = {"model": model, "prompt": prompt, "unit": unit}
        _show("trace_token", args, await client.call_tool("trace_token", args))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--prompt", default="Встреча назначена на 12 марта 2024 года.")
    args = parser.parse_args()
    tools = AgentTools(open_database(args.db))
    anyio.run(session, tools, args.model, args.layer, args.prompt)


if __name__ == "__main__":
    main()
