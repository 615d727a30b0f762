"""The graph pages, their JSON twins, saved state and interventions, on a stored tiny graph."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from babellens.capture.language_model import load
from babellens.graphs.interventions import FeatureEdit, intervene
from babellens.graphs.report import GraphReport
from babellens.graphs.transcoders import load_transcoders, save_transcoder_dir
from babellens.jobs import run_job
from babellens.store import JobStore, open_database
from babellens.store.reports import ReportStore
from babellens.web import WebSettings, create_app
from graphs.fake_transcoders import fake_transcoders
from tiny_models import save_tiny_folder

PROMPT = "<script>alert(1)</script> Paris"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("graphweb")
    model = str(save_tiny_folder(root / "tiny", "llama"))
    tcs = str(save_transcoder_dir(fake_transcoders(load(model), width=16), root / "tcs"))
    db = open_database(f"sqlite:///{root / 'web.db'}")
    job = JobStore(db).create("graph", model, {"prompt": PROMPT, "transcoders": tcs})
    assert run_job(db, job.id).status == "done"
    return db, job.id, model, tcs


@pytest.fixture(scope="module")
def client(stored):
    db = stored[0]
    with TestClient(create_app(WebSettings(db=db.url), db)) as c:
        yield c


def test_list_and_graph_pages_with_their_twins(client, stored) -> None:
    db, job_id, model, tcs = stored
    listing = client.get("/graphs.json").json()
    assert [g["job_id"] for g in listing["graphs"]] == [job_id]
    assert listing["sources"] == [{"model": model, "transcoders": tcs}]
    twin = client.get(f"/graphs/{job_id}.json").json()
    report = ReportStore(db).get(job_id, GraphReport)
    assert twin["graph"] == report.model_dump(mode="json") and twin["model"] == model
    features = [n.node_id for n in report.nodes if n.feature_type == "cross layer transcoder"]
    assert features and twin["dictionary_id"] is None  # random transcoders from a folder
    assert twin["feature_urls"] == dict.fromkeys(features)
    html = client.get(f"/graphs/{job_id}").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "no stored dictionary for this graph" in html and "/dictionaries/" not in html
    script = "/static/charts/graph.js"
    assert f'src="{script}"' in html and client.get(script).status_code == 200
    assert client.get("/graphs/999.json").status_code == 404


def test_pins_and_supernodes_are_saved_with_the_graph(client, stored) -> None:
    db, job_id, _, _ = stored
    nodes = [n["node_id"] for n in client.get(f"/graphs/{job_id}.json").json()["graph"]["nodes"]]
    body = {"pinnedIds": nodes[:2], "supernodes": [["pair", nodes[0], nodes[1]]]}
    assert client.post(f"/api/graphs/{job_id}/state", json=body).status_code == 200
    saved = ReportStore(db).get(job_id, GraphReport).qParams
    assert saved.pinnedIds == nodes[:2] and saved.supernodes == [["pair", nodes[0], nodes[1]]]
    bad = client.post(f"/api/graphs/{job_id}/state", json={"pinnedIds": ["nope"]})
    assert bad.status_code == 400 and "nope" in bad.json()["error"]
    extra = client.post(f"/api/graphs/{job_id}/state", json={"pinned": []})
    assert extra.status_code == 422


def test_intervention_matches_the_library(client, stored) -> None:
    db, job_id, model, tcs = stored
    report = ReportStore(db).get(job_id, GraphReport)
    node = next(n for n in report.nodes if n.feature_type == "cross layer transcoder")
    edit = {"layer": int(node.layer), "pos": node.ctx_idx, "feature": node.feature, "scale": 0}
    got = client.post(f"/api/graphs/{job_id}/intervene", json={"edits": [edit], "top": 3})
    assert got.status_code == 200
    lm = load(model)
    ids = torch.tensor(report.metadata.prompt_token_ids)
    expected = intervene(lm, load_transcoders(tcs), ids, [FeatureEdit(**edit)], top=3)
    real = got.json()["real_after"]
    assert [t["token_id"] for t in real] == [t.token_id for t in expected.real_after]
    assert [t["probability"] for t in real] == pytest.approx(
        [t.probability for t in expected.real_after], abs=1e-7
    )
    assert got.json()["replacement_before"] == expected.model_dump()["replacement_before"]
    wrong = {**edit, "pos": 999}
    assert (
        client.post(f"/api/graphs/{job_id}/intervene", json={"edits": [wrong]}).status_code == 400
    )


def test_a_new_graph_only_uses_a_known_model_and_transcoder_pair(client, stored) -> None:
    _, _, model, tcs = stored
    unknown = {"model": model, "transcoders": "/etc", "prompt": "x"}
    refused = client.post("/api/graphs", json=unknown)
    assert (
        refused.status_code == 400
        and "unknown model and transcoder pair" in refused.json()["error"]
    )
    queued = client.post(
        "/api/graphs", json={"model": model, "transcoders": tcs, "prompt": "Rome is"}
    )
    assert queued.status_code == 201 and queued.json()["kind"] == "graph"


def test_the_heads_of_an_edge_across_positions_sum_to_it(client, stored) -> None:
    db, job_id, _, _ = stored
    report = ReportStore(db).get(job_id, GraphReport)
    nodes = report.node_by_id()
    link = next(
        lk
        for lk in report.links
        if nodes[lk.source].ctx_idx != nodes[lk.target].ctx_idx and abs(lk.weight) > 1e-2
    )
    got = client.get(
        f"/api/graphs/{job_id}/heads",
        params={"source": link.source, "target": link.target, "top": 50},
    )
    assert got.status_code == 200
    data = got.json()
    assert data["edge"] == pytest.approx(link.weight)
    assert sum(h["weight"] for h in data["heads"]) == pytest.approx(link.weight, rel=1e-4, abs=1e-5)
    assert data["direct"] == pytest.approx(0, abs=1e-4 * max(1, abs(link.weight)))
    missing = client.get(f"/api/graphs/{job_id}/heads", params={"source": "x", "target": "y"})
    assert missing.status_code == 400
