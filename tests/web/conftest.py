"""A small scanned database (tiny random llama, byte tokenizer) and an app over it."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig
from babellens.jobs import run_job
from babellens.store import JobStore, open_database
from babellens.web import WebSettings, create_app
from babellens.web.queries import model_slug
from tiny_models import TINY_TEXTS, save_tiny_folder

XSS = "<img src=x onerror=alert(1)> and </script><script>alert(2)</script>"


def write_corpus(path, n_docs: int = 40, seed: int = 0) -> None:
    """Mixed-language documents, one of them hostile HTML."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n_docs):
            text = " ".join(rng.choice(TINY_TEXTS) for _ in range(3))
            fh.write(
                json.dumps({"id": f"d{i}", "text": text, "lang": "mix", "split": "train"}) + "\n"
            )
        fh.write(
            json.dumps({"id": "xss", "text": XSS * 3, "lang": "html", "split": "train"}) + "\n"
        )


def build_scanned_db(
    url: str, model: str, corpus: str, token_layers: list[int] | None = None, **scan: object
):
    db = open_database(url)
    jobs = JobStore(db)
    config = ScanConfig(corpus=corpus, checkpoint_every_s=0, **scan)  # type: ignore[arg-type]
    scan_job = jobs.create("scan", model, config.model_dump())
    assert run_job(db, scan_job.id).status == "done"
    token_job = jobs.create(
        "next_token_neurons", model, NextTokenConfig(layers=token_layers).model_dump()
    )
    assert run_job(db, token_job.id).status == "done"
    return db, scan_job.id, token_job.id


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    model = str(save_tiny_folder(root / "tiny", "llama"))
    corpus = root / "corpus.jsonl"
    write_corpus(corpus)
    db, scan_id, token_id = build_scanned_db(
        f"sqlite:///{root / 'web.db'}", model, str(corpus), window_len=24, k=6
    )
    return SimpleNamespace(
        db=db, model=model, slug=model_slug(model), scan_id=scan_id, token_id=token_id, root=root
    )


@pytest.fixture(scope="module")
def app(scanned):
    return create_app(WebSettings(db=scanned.db.url), scanned.db)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c
