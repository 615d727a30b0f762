"""A graph traced through a stored transcoder set links each feature node to its feature page.

The links are checked three ways: against the set's member order (which member reads the node's
layer), against the feature page's own JSON (that page answers for that member and index), and
against the model: the node's activation is the linked member's encoder at the node's position.
"""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from babellens.capture.language_model import load
from babellens.graphs.report import GraphReport
from babellens.store import JobStore
from babellens.store.reports import ReportStore
from babellens.store.results import ResultStore
from babellens.web import WebSettings, create_app

from .graph_sets import EXPLANATION, build_set_graph

PROMPT = "<script>alert(1)</script> Paris"
FEATURE = "cross layer transcoder"


@pytest.fixture(scope="module")
def traced(tmp_path_factory, module_home):
    return build_set_graph(tmp_path_factory.mktemp("graphsets"), PROMPT)


@pytest.fixture(scope="module")
def client(traced):
    with TestClient(create_app(WebSettings(db=traced.url), traced.db)) as c:
        yield c


def _features(report: GraphReport):
    return [n for n in report.nodes if n.feature_type == FEATURE]


def test_every_feature_node_links_to_its_member_and_index(client, traced) -> None:
    page = client.get(f"/graphs/{traced.job_id}.json").json()
    report = ReportStore(traced.db).get(traced.job_id, GraphReport)
    features = _features(report)
    assert features and {int(n.layer) for n in features} != {1}  # a layer whose member differs
    assert page["dictionary_id"] == traced.dict_id
    assert page["feature_urls"] == {
        n.node_id: (
            f"/dictionaries/{traced.dict_id}/features/{n.feature}"
            f"?member={traced.member_of[int(n.layer)]}"
        )
        for n in features
    }
    assert page["graph"] == report.model_dump(mode="json")  # the graph itself is untouched


def test_each_link_answers_with_that_features_data(client, traced) -> None:
    page = client.get(f"/graphs/{traced.job_id}.json").json()
    report = ReportStore(traced.db).get(traced.job_id, GraphReport)
    lm = load(traced.model, dtype="float32")
    ids = torch.tensor([report.metadata.prompt_token_ids])
    hooks = [f"mlp_in.{layer}" for layer in sorted(traced.members)]
    captured = lm.run(ids, capture=hooks)
    for node in _features(report):
        got = client.get(page["feature_urls"][node.node_id], headers={"Accept": "application/json"})
        assert got.status_code == 200, got.text
        feature = got.json()
        member = traced.member_of[int(node.layer)]
        assert (feature["index"], feature["member"]) == (node.feature, member)
        assert feature["info"]["id"] == traced.dict_id
        assert feature["hook_in"] == f"mlp_in.{node.layer}"
        stored = ResultStore(traced.db).neuron(
            traced.scan_job, member, node.feature, lambda ids: [str(i) for i in ids]
        )
        assert feature["record"]["max"] == stored.max
        assert feature["record"]["density"] == stored.density
        x = captured[f"mlp_in.{node.layer}"][0, node.ctx_idx].float()
        tc = traced.members[int(node.layer)]
        with torch.inference_mode():
            expected = tc.encode(x[None])[0, node.feature].item()
        assert node.activation == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_the_explained_feature_carries_its_explanation_escaped(client, traced) -> None:
    node = traced.explained
    url = client.get(f"/graphs/{traced.job_id}.json").json()["feature_urls"][node.node_id]
    feature = client.get(url, headers={"Accept": "application/json"}).json()
    assert [e["text"] for e in feature["explanations"]] == [EXPLANATION]
    unit = feature["explanations"][0]["unit"]
    assert unit == {
        "source": f"dict:{traced.dict_id}",
        "layer": traced.member_of[int(node.layer)],
        "index": node.feature,
    }
    html = client.get(url).text
    assert "<i>capital</i>" not in html and "&lt;i&gt;capital&lt;/i&gt; cities &amp;" in html
    others = [
        client.get(u, headers={"Accept": "application/json"}).json()["explanations"]
        for nid, u in client.get(f"/graphs/{traced.job_id}.json").json()["feature_urls"].items()
        if nid != node.node_id and not nid.startswith(f"{node.layer}_{node.feature}_")
    ]
    assert all(e == [] for e in others)


def test_the_graph_page_lists_the_links_and_escapes_the_prompt(client, traced) -> None:
    page = client.get(f"/graphs/{traced.job_id}.json").json()
    html = client.get(f"/graphs/{traced.job_id}").text
    for url in page["feature_urls"].values():
        assert f'href="{url}"' in html
    assert f'href="/dictionaries/{traced.dict_id}"' in html
    assert "no stored dictionary for this graph" not in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    script = "/static/charts/graph_feature.js"
    assert client.get(script).status_code == 200


def test_an_imported_copy_links_nowhere_though_its_metadata_names_the_set(client, traced) -> None:
    """A file keeps its maker's ``transcoder_list``; only the job's own source decides."""
    report = ReportStore(traced.db).get(traced.job_id, GraphReport)
    assert report.metadata.transcoder_list == [str(traced.dict_id)]
    jobs = JobStore(traced.db)
    job = jobs.create("graph", traced.model, {"prompt": PROMPT, "transcoders": "file:graph.json"})
    ReportStore(traced.db).save(job.id, report, model=traced.model)
    jobs.finish(job.id, "done", summary={})
    page = client.get(f"/graphs/{job.id}.json").json()
    assert page["dictionary_id"] is None
    assert page["feature_urls"] == {n.node_id: None for n in _features(report)}
    assert "no stored dictionary for this graph" in client.get(f"/graphs/{job.id}").text
    # nor may it offer its maker's set as a source, or intervene through this database's set
    listing = client.get("/graphs.json").json()
    assert [s["transcoders"] for s in listing["sources"]] == [str(traced.dict_id)]
    node = _features(report)[0]
    edit = {"layer": int(node.layer), "pos": node.ctx_idx, "feature": node.feature, "scale": 0.0}
    answer = client.post(f"/api/graphs/{job.id}/intervene", json={"edits": [edit]})
    assert answer.status_code in (400, 422) and "imported from a file" in answer.json()["error"]
