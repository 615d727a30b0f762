from __future__ import annotations

import json

import pytest

from babellens.errors import InvalidInputError
from babellens.graphs.attribution import GraphConfig, attribute
from babellens.graphs.neuronpedia import (
    check_graph_json,
    graph_report,
    read_graph_json,
    write_graph_json,
)
from babellens.graphs.pruning import graph_scores, prune
from babellens.graphs.report import GraphReport
from graphs.fake_transcoders import fake_transcoders
from tiny_models import tiny_inputs, tiny_model

# The schema's required fields, restated here from Neuronpedia's graph-schema.json (draft-07):
SCHEMA_REQUIRED = {
    "top": ["metadata", "qParams", "nodes", "links"],
    "metadata": ["slug", "scan", "prompt_tokens", "prompt"],
    "node": ["node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"],
    "link": ["source", "target", "weight"],
}


@pytest.fixture(scope="module")
def report() -> GraphReport:
    lm = tiny_model("llama")
    ids = tiny_inputs(1, 6)[0]
    graph = attribute(lm, fake_transcoders(lm), ids, GraphConfig())
    pruned = prune(graph)
    tokens = [f"t{int(i)}" for i in ids.flatten()]
    return graph_report(
        graph,
        pruned,
        graph_scores(graph),
        prompt="a prompt",
        tokens=tokens,
        vocab=lambda i: f"v{i}",
        scan="tiny-llama",
        transcoders="random",
        settings=GraphConfig().model_dump(),
    )


def test_written_file_has_every_field_the_schema_requires(report: GraphReport, tmp_path) -> None:
    data = json.loads(write_graph_json(report, tmp_path / "g.json").read_text())
    assert all(key in data for key in SCHEMA_REQUIRED["top"])
    assert all(key in data["metadata"] for key in SCHEMA_REQUIRED["metadata"])
    assert data["nodes"] and data["links"]
    for node in data["nodes"]:
        assert all(key in node for key in SCHEMA_REQUIRED["node"])
        assert isinstance(node["layer"], str) and isinstance(node["ctx_idx"], int)
    for link in data["links"]:
        assert all(key in link for key in SCHEMA_REQUIRED["link"])
    types = {node["feature_type"] for node in data["nodes"]}
    assert {"embedding", "logit", "cross layer transcoder"} <= types
    ids = [node["node_id"] for node in data["nodes"]]
    assert len(ids) == len(set(ids))
    logit = next(n for n in data["nodes"] if n["feature_type"] == "logit")
    assert logit["node_id"] == f"4_{logit['feature']}_5" and logit["layer"] == "4"
    token = next(n for n in data["nodes"] if n["feature_type"] == "embedding")
    assert token["node_id"] == f"E_{token['feature']}_{token['ctx_idx']}"


def test_export_then_import_is_the_identity(report: GraphReport, tmp_path) -> None:
    report.qParams.pinnedIds = [report.nodes[0].node_id]
    report.qParams.supernodes = [["capital", report.nodes[0].node_id, report.nodes[1].node_id]]
    again = read_graph_json(write_graph_json(report, tmp_path / "g.json"))
    assert again == report
    assert again.model_dump() == report.model_dump()


def test_a_circuit_tracer_file_reads_with_its_own_conventions() -> None:
    data = {
        "metadata": {"slug": "x", "scan": "gemma-2-2b", "prompt_tokens": ["a"], "prompt": "a"},
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both"},
        "nodes": [
            {
                "node_id": "E_2_0",
                "feature": 0,
                "layer": "E",
                "ctx_idx": 0,
                "feature_type": "embedding",
                "jsNodeId": "E_2-0",
                "clerp": "",
            },
            {
                "node_id": "0_3_0",
                "feature": -1,
                "layer": "3",
                "ctx_idx": 0,
                "feature_type": "mlp reconstruction error",
                "jsNodeId": "3_0-0",
                "clerp": "",
            },
            {
                "node_id": "27_9_0",
                "feature": 9,
                "layer": 27,
                "ctx_idx": 0,
                "feature_type": "logit",
                "jsNodeId": "L_9-0",
                "clerp": "",
                "token_prob": 0.5,
            },
        ],
        "links": [{"source": "E_2_0", "target": "27_9_0", "weight": 1.5}],
    }
    report = read_graph_json(data)
    assert [n.ref(26).kind for n in report.nodes] == ["token", "error", "logit"]
    assert report.nodes[1].ref(26).layer == 3
    assert report.n_layers == 26


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ([], "one JSON object"),
        ({"metadata": {}, "qParams": {}, "nodes": [], "links": []}, "metadata lacks slug"),
        ({"metadata": {"slug": 1}, "nodes": [], "links": []}, "the graph lacks qParams"),
    ],
)
def test_invalid_graph_files_are_refused_in_one_line(broken, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_graph_json(broken)


def test_a_link_to_a_missing_node_is_refused(report: GraphReport) -> None:
    data = report.model_dump()
    data["links"].append({"source": "nope", "target": report.nodes[0].node_id, "weight": 1})
    with pytest.raises(InvalidInputError, match="names a missing node"):
        read_graph_json(data)
