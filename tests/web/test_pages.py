"""Every page and its JSON twin, checked against the store and a plain recomputation."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from transformers import AutoTokenizer

from babellens.store.schema import NeuronStatRow, TokenNeuronRow
from babellens.web import NAV


def _stats(scanned, layer):
    with scanned.db.session() as s:
        return s.scalars(
            select(NeuronStatRow)
            .where(NeuronStatRow.job_id == scanned.scan_id, NeuronStatRow.layer == layer)
            .order_by(NeuronStatRow.neuron)
        ).all()


def test_every_nav_page_renders_html_and_json(client):
    assert [e.path for e in NAV][:5] == ["/", "/live", "/steering", "/crossling", "/jobs"]
    for entry in NAV:
        html = client.get(entry.path)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "What am I looking at?" in html.text
        twin = "/index.json" if entry.path == "/" else f"{entry.path}.json"
        data = client.get(twin)
        assert data.status_code == 200 and data.headers["content-type"] == "application/json"
        assert client.get(entry.path, headers={"Accept": "application/json"}).json() == data.json()


def test_home_lists_the_scanned_model(client, scanned):
    home = client.get("/index.json").json()
    (card,) = home["models"]
    assert card["model"] == scanned.model and card["slug"] == scanned.slug
    assert card["scan_job"] == scanned.scan_id and card["token_job"] == scanned.token_id
    assert card["n_layers"] == 3 and card["tokens"] > 0
    assert [j["id"] for j in home["recent_jobs"]] == [scanned.token_id, scanned.scan_id]


def test_model_page_layer_statistics_match_the_store(client, scanned):
    page = client.get(f"/models/{scanned.slug}.json").json()
    assert page["summary"]["architecture"] == "llama"
    for stats in page["layers"]:
        rows = _stats(scanned, stats["layer"])
        maxes = np.array([r.max for r in rows])
        assert stats["neurons"] == len(rows)
        assert np.isclose(stats["mean_max"], maxes.mean())
        assert np.isclose(stats["mean_density"], np.mean([r.density for r in rows]))
        assert stats["dead"] == int((maxes <= 0).sum())
        assert stats["has_congruence"] is True


def test_layer_page_sorts_and_pages(client, scanned):
    rows = _stats(scanned, 1)
    by_density = sorted(rows, key=lambda r: (-r.density, r.neuron))
    page = client.get(f"/models/{scanned.slug}/layers/1.json?sort=density&limit=5&offset=2").json()
    assert page["total"] == len(rows)
    assert [n["neuron"] for n in page["neurons"]] == [r.neuron for r in by_density[2:7]]
    asc = client.get(
        f"/models/{scanned.slug}/layers/1.json?sort=max&descending=false&limit=3"
    ).json()
    assert [n["max"] for n in asc["neurons"]] == sorted(r.max for r in rows)[:3]
    with scanned.db.session() as s:
        best = s.scalars(
            select(TokenNeuronRow)
            .where(TokenNeuronRow.job_id == scanned.token_id, TokenNeuronRow.layer == 1)
            .order_by(TokenNeuronRow.score.desc(), TokenNeuronRow.neuron)
        ).first()
    top = client.get(f"/models/{scanned.slug}/layers/1.json?sort=congruence&limit=1").json()
    assert (
        top["neurons"][0]["neuron"] == best.neuron
    )  # byte vocabulary: no whole words, so all tokens count
    assert top["neurons"][0]["congruence"] == best.score
    assert "<table" in client.get(f"/models/{scanned.slug}/layers/1?sort=congruence").text


def test_neuron_page_matches_the_store(client, scanned):
    row = _stats(scanned, 0)[3]
    page = client.get(f"/models/{scanned.slug}/layers/0/neurons/3.json").json()
    record = page["record"]
    assert record["max"] == row.max and record["density"] == row.density
    assert sum(record["histogram"]["counts"]) > 0
    assert [e["value"] for e in record["examples"]] == [e["value"] for e in row.examples]
    top = record["examples"][0]
    assert np.isclose(top["activations"][top["position"]], top["value"], rtol=1e-2, atol=1e-3)
    tokenizer = AutoTokenizer.from_pretrained(scanned.model)
    start = max(top["position"] - 24, 0)
    assert (
        page["sample_prompt"]
        == tokenizer.decode(top["token_ids"][start : top["position"] + 1]).strip()
    )
    assert record["congruence"]["neuron"] == 3
    labels = {link["label"] for link in page["neighbours"]}
    assert labels == {"previous neuron", "next neuron", "same index, layer above"}  # none below 0
    html = client.get(f"/models/{scanned.slug}/layers/0/neurons/3").text
    assert 'class="tok tok-max"' in html and 'id="chart-data"' in html
    (chart,) = page["charts"]  # the histogram as drawn: the counts without the empty ends
    counts = record["histogram"]["counts"]
    used = [i for i, c in enumerate(counts) if c > 0]
    assert chart["series"][0]["y"] == counts[used[0] : used[-1] + 1]


def test_search_by_neuron_id_and_promoted_token(client, scanned):
    hit = client.get(f"/models/{scanned.slug}/search.json", params={"q": "L1/N5"}).json()
    assert hit["hits"] == [
        {
            "layer": 1,
            "neuron": 5,
            "reason": "neuron id",
            "score": None,
            "source": "neuron",
            "url": f"/models/{scanned.slug}/layers/1/neurons/5",
        }
    ]
    with scanned.db.session() as s:
        row = s.scalars(
            select(TokenNeuronRow).where(TokenNeuronRow.job_id == scanned.token_id)
        ).first()
    token = row.promoted[0]["token"].strip()
    found = client.get(
        f"/models/{scanned.slug}/search.json", params={"q": token, "by": "token"}
    ).json()
    assert (row.layer, row.neuron) in {(h["layer"], h["neuron"]) for h in found["hits"]}
    none = client.get(
        f"/models/{scanned.slug}/search.json", params={"q": "x", "by": "explanation"}
    ).json()
    assert none["hits"] == [] and "no explanations" in none["note"]


def test_plotly_and_static_files_are_served_locally(client):
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert client.get("/static/app.css").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/jobs" in docs.text and "cdn" not in docs.text.lower()


def test_every_page_opens_with_a_plain_language_note(client, scanned):
    paths = [
        f"/models/{scanned.slug}",
        f"/models/{scanned.slug}/layers/1",
        f"/models/{scanned.slug}/layers/1/neurons/2",
        f"/models/{scanned.slug}/search?q=1/2",
        f"/jobs/{scanned.scan_id}",
        "/models/nope",
        "/docs",
    ]
    for path in paths:
        html = client.get(path).text
        assert '<details class="intro" open>' in html and "What am I looking at?" in html, path
