"""``babellens mcp`` end to end with the SDK's own client: in process, over stdio, over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from tests.store.test_explanations import _unit
from tests.tiny_models import save_tiny_folder
from tests.web.conftest import build_scanned_db, write_corpus

from babellens.agents.bearer import BearerTokenGuard, check_bind
from babellens.agents.server import build_server
from babellens.agents.tools import AgentTools
from babellens.analyses.token_trace import trace_neuron
from babellens.capture.language_model import load
from babellens.errors import InvalidInputError
from babellens.store import JobStore
from babellens.store.explanations import ExplanationStore

pytest.importorskip("mcp")
from mcp import Client
from mcp.client.stdio import StdioServerParameters

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp")
    model = str(save_tiny_folder(root / "tiny", "llama"))
    corpus = root / "corpus.jsonl"
    write_corpus(corpus)
    url = f"sqlite:///{root / 'mcp.db'}"
    db, _, _ = build_scanned_db(url, model, str(corpus), window_len=24, k=6)
    job = JobStore(db).create("explain", model, {})
    ExplanationStore(db).save(job.id, model, [_unit(i) for i in range(4)])
    return {"db": db, "url": url, "model": model, "corpus": str(corpus)}


def _data(result):
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content.get("result", result.structured_content)
    return json.loads(result.content[0].text)


def test_tools_in_process(world) -> None:
    tools = AgentTools(world["db"])
    model = world["model"]

    async def session():
        async with Client(build_server(tools)) as client:
            names = sorted(t.name for t in (await client.list_tools()).tools)
            models = _data(await client.call_tool("list_models", {}))
            found = _data(await client.call_tool("search", {"model": model, "query": "French"}))
            dash = _data(await client.call_tool("unit_dashboard", {"model": model, "unit": "2/1"}))
            units = _data(
                await client.call_tool("list_units", {"model": model, "layer": 2, "limit": 3})
            )
            trace = _data(
                await client.call_tool(
                    "trace_token", {"model": model, "prompt": "The fox", "unit": "1/5"}
                )
            )
            bad = await client.call_tool("unit_dashboard", {"model": model, "unit": "nonsense"})
            jobs = await client.call_tool("poll_job", {"job_id": 1})
            return names, models, found, dash, units, trace, bad, jobs

    names, models, found, dash, units, trace, bad, jobs = anyio.run(session)
    assert names == sorted(
        [
            "list_models",
            "list_units",
            "unit_dashboard",
            "search",
            "run_prompt",
            "trace_token",
            "steer",
        ]
    )
    assert [m["model"] for m in models["models"]] == [model] and models["models"][0][
        "explanations"
    ] == 4
    assert [h["unit"] for h in found["hits"]] == ["neuron/2/1"]
    assert found["hits"][0]["url"].endswith("/layers/2/neurons/1")
    assert dash["explanations"][0]["text"] == "the word Paris and other French cities"
    assert dash["explanations"][0]["detection_random"] == 0.5
    assert len(dash["top_examples"]) > 0 and "[[" in dash["top_examples"][0]["text"]
    assert len(units["units"]) == 3
    # the live trace is the library's trace of the same model and prompt
    expected = trace_neuron(load(model), "The fox", 1, 5)
    assert [round(v, 4) for v in trace["activations"]] == [
        round(v, 4) for v in expected.activations
    ]
    assert bad.is_error and "LAYER/INDEX" in bad.content[0].text
    assert jobs.is_error  # no job tools without --allow-jobs


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "TOKENIZERS_PARALLELISM": "false"}


@pytest.mark.slow
def test_stdio_transport(world) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "babellens", "mcp", "--db", world["url"]], env=_env()
    )

    async def session():
        async with Client(params) as client:
            return _data(await client.call_tool("list_models", {}))

    models = anyio.run(session)
    assert [m["model"] for m in models["models"]] == [world["model"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"nothing listens on port {port} after 60 s")


@pytest.mark.slow
def test_http_transport_with_jobs(world) -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "babellens", "mcp", "--http", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--allow-jobs", "--db", world["url"]],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port)
        params = {
            "layer": 1,
            "limit": 4,
            "corpus": world["corpus"],
            "corpus_tokens": 2048,
            "window_len": 24,
            "sampler": {
                "n_train": 6,
                "n_test": 6,
                "n_non_activating": 6,
                "min_examples": 4,
                "ctx_len": 8,
            },
        }

        async def session():
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                names = {t.name for t in (await client.list_tools()).tools}
                started = _data(
                    await client.call_tool(
                        "start_job", {"kind": "explain", "model": world["model"], "params": params}
                    )
                )
                for _ in range(240):
                    polled = _data(
                        await client.call_tool("poll_job", {"job_id": started["job_id"]})
                    )
                    if polled["status"] in ("done", "failed", "cancelled"):
                        break
                    await anyio.sleep(0.5)
                return names, polled

        names, polled = anyio.run(session)
        assert {"start_job", "poll_job"} <= names
        assert polled["status"] == "done", polled["error"]
        assert polled["summary"]["units"] == 4
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_http_beyond_loopback_needs_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(InvalidInputError, match="give --token"):
        check_bind("0.0.0.0", None)
    done = subprocess.run(
        [sys.executable, "-m", "babellens", "mcp", "--http", "--host", "0.0.0.0"],
        env={k: v for k, v in _env().items() if k != "BABELLENS_TOKEN"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "give --token" in done.stderr


def test_bearer_guard_answers_401_without_the_token() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    inner = Starlette(routes=[Route("/mcp", lambda r: PlainTextResponse("inside"))])
    client = TestClient(BearerTokenGuard(inner, "s3cret"))
    assert client.get("/mcp").status_code == 401
    wrong = client.get("/mcp", headers={"Authorization": "Bearer s3cre"})
    assert wrong.status_code == 401 and "access token" in wrong.json()["error"]
    assert wrong.headers["www-authenticate"] == "Bearer"
    right = client.get("/mcp", headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 200 and right.text == "inside"


@pytest.mark.slow
def test_http_beyond_loopback_with_a_token(world) -> None:
    """Bound to every interface with a token: no token gets 401; the token lists the job tools."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    port = _free_port()
    cmd = [sys.executable, "-m", "babellens", "mcp", "--http", "--host", "0.0.0.0"]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--token", "s3cret", "--db", world["url"]],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        _wait_for_port(port)
        refused = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401

        async def session():
            http = create_mcp_http_client(headers={"Authorization": "Bearer s3cret"})
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                models = _data(await client.call_tool("list_models", {}))
                return names, models

        names, models = anyio.run(session)
        assert {"start_job", "poll_job", "list_models"} <= names
        assert [m["model"] for m in models["models"]] == [world["model"]]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
