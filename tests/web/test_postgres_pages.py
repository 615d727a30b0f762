"""The pages' SQL on both databases: SQLite and PostgreSQL must answer the same."""

from __future__ import annotations

from fastapi.testclient import TestClient

from babellens.web import WebSettings, create_app
from babellens.web.queries import model_slug

from .conftest import build_scanned_db, write_corpus

PAGES = [
    "/index.json",
    "/models/{slug}.json",
    "/models/{slug}/layers/1.json?sort=congruence&limit=7",
    "/models/{slug}/layers/2.json?sort=density&descending=false&offset=3&limit=5",
    "/models/{slug}/layers/0/neurons/5.json",
    "/models/{slug}/search.json?q=1/2",
]


def _answers(url: str, model: str, corpus: str) -> list[dict]:
    db, *_ = build_scanned_db(url, model, corpus, window_len=24, k=6)
    with TestClient(create_app(WebSettings(db=url), db)) as client:
        answers = [client.get(p.format(slug=model_slug(model))) for p in PAGES]
    assert [a.status_code for a in answers] == [200] * len(PAGES)
    return [a.json() for a in answers]


def _strip(value):
    """Timestamps differ between two runs; everything else must not."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.endswith("_at") and k != "rate"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, float):
        return round(value, 5)
    return value


def test_sqlite_and_postgresql_serve_the_same_pages(db_url, scanned, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_corpus(corpus)
    here = _answers(db_url, scanned.model, str(corpus))
    reference = _answers(f"sqlite:///{tmp_path / 'ref.db'}", scanned.model, str(corpus))
    assert _strip(here) == _strip(reference)
