"""Latency of the live activation endpoint against the bare forward pass of the same prompt.

The server runs in this process (uvicorn in a thread) on a real socket, so a request pays for
HTTP, JSON, validation, the model lock and the capture hooks; the baseline is the plain
``transformers`` forward of the same tokens, timed interleaved with the requests at concurrency 1.
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from pydantic import BaseModel

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.capture.language_model import load
from babellens.jobs import run_job
from babellens.store import JobStore, open_database

__all__ = ["LiveBenchResult", "bench_live"]

PROMPT_TEXT = (
    "The river that runs past the old mill carries snow water from the mountains down to the "
    "sea, and in spring the whole valley smells of wet stone and pine resin and fresh bread"
)


class LiveBenchResult(BaseModel):
    model: str
    prompt_tokens: int
    layer: int
    k: int
    requests: int
    forward_p50_ms: float  # plain transformers forward (with logits) of the same prompt
    forward_no_unembed_p50_ms: float
    c1_p50_ms: float
    c1_p95_ms: float
    c8_p50_ms: float
    c8_p95_ms: float
    c8_requests_per_s: float
    c1_ratio: float  # c1 p50 / bare forward p50


def _prompt(tokenizer, n_tokens: int) -> str:
    words = []
    for word in PROMPT_TEXT.split() * 4:
        words.append(word)
        if len(tokenizer(" ".join(words))["input_ids"]) >= n_tokens:
            break
    return " ".join(words)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(db_url: str) -> tuple[object, str]:
    import uvicorn

    from babellens.web import WebSettings, create_app

    port = _free_port()
    app = create_app(WebSettings(db=db_url, port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def bench_live(
    model: str = "smollm2-135m", tokens: int = 32, requests: int = 40, k: int = 5
) -> LiveBenchResult:
    import httpx

    lm = load(model)
    layer = lm.adapter.n_layers - 1  # the whole stack runs, as in the bare forward
    text = _prompt(lm.tokenizer, tokens)
    enc = lm.tokenize(text)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = open_database(url)
        job = JobStore(db).create(
            "scan", model, ScanConfig(max_tokens=64, checkpoint_every_s=0).model_dump()
        )
        run_job(db, job.id)  # the live endpoint serves models that have a finished scan
        server, base = _start_server(url)
        endpoint = f"{base}/api/models/{model.replace('/', '--')}/top-neurons"
        body = {"text": text, "layer": layer, "k": k}
        try:
            with httpx.Client(timeout=120) as client:
                client.post(endpoint, json=body).raise_for_status()  # loads the live model
                bare, bare_body, c1 = [], [], []
                with torch.inference_mode():
                    lm.model(**enc)
                    for _ in range(requests):
                        start = time.perf_counter()
                        lm.model(**enc)
                        bare.append(time.perf_counter() - start)
                        start = time.perf_counter()
                        lm.model.model(**enc)
                        bare_body.append(time.perf_counter() - start)
                        start = time.perf_counter()
                        client.post(endpoint, json=body).raise_for_status()
                        c1.append(time.perf_counter() - start)

            def one(_: int) -> float:
                with httpx.Client(timeout=120) as c:
                    start = time.perf_counter()
                    c.post(endpoint, json=body).raise_for_status()
                    return time.perf_counter() - start

            wall = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                c8 = list(pool.map(one, range(requests)))
            wall = time.perf_counter() - wall
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
    forward = statistics.median(bare) * 1000
    return LiveBenchResult(
        model=model,
        prompt_tokens=int(enc["input_ids"].shape[1]),
        layer=layer,
        k=k,
        requests=requests,
        forward_p50_ms=forward,
        forward_no_unembed_p50_ms=statistics.median(bare_body) * 1000,
        c1_p50_ms=_percentile(c1, 0.5),
        c1_p95_ms=_percentile(c1, 0.95),
        c8_p50_ms=_percentile(c8, 0.5),
        c8_p95_ms=_percentile(c8, 0.95),
        c8_requests_per_s=requests / wall,
        c1_ratio=_percentile(c1, 0.5) / forward,
    )
