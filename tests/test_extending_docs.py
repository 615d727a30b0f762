"""Every Python block of docs/extending.md runs, in order, against a tiny model and a fresh
database, so the worked examples of how to extend BabelLens stay true."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from babellens.autointerp.provider import PROVIDERS
from babellens.jobs.registry import JOB_KINDS
from babellens.models.adapters import registry as family_registry
from babellens.steering.metrics import METRICS
from babellens.store import open_database
from babellens.web import PAGES
from tiny_models import save_tiny_folder

DOC = Path(__file__).parents[1] / "docs" / "extending.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_extending_page_runs(tmp_path):
    blocks = _blocks()
    assert len(blocks) >= 6 and "open_database()" in blocks[0]
    namespace = {
        "MODEL": str(save_tiny_folder(tmp_path / "tiny", "llama")),
        "db": open_database(f"sqlite:///{tmp_path / 'docs.db'}"),
    }
    try:
        for block in blocks[1:]:  # the first one names the real model and database
            exec(compile(block, str(DOC), "exec", dont_inherit=True), namespace)
        assert family_registry.ARCHITECTURES.lookup("my_llama").name == "my-llama"
        assert namespace["done"].summary["norms"]["1"] > 0
        app = FastAPI()
        app.include_router(namespace["router"])
        client = TestClient(app)
        assert client.get("/hello.json").json() == {"greeting": "hello"}
        chart = client.get("/squares.json").json()["charts"][0]
        assert chart["series"][0]["y"] == [1.0, 4.0, 9.0] and "1 to 9" in chart["summary"]
    finally:
        family_registry.ARCHITECTURES.pop("my_llama", None)
        JOB_KINDS.pop("mean_resid_norm", None)
        METRICS.pop("exclamation_rate", None)
        PROVIDERS.pop("shout", None)
        PAGES.pop("hello", None)
        PAGES.pop("squares", None)
