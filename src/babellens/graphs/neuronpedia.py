"""Neuronpedia's graph JSON: written from a computed graph, read (checked) from a file.

Node ids follow circuit-tracer: ``{layer}_{feature}_{pos}`` for features, ``E_{token}_{pos}``
for tokens, ``{n_layers + 1}_{token}_{pos}`` for logits; error nodes take Neuronpedia's
``{layer}_error_mlp_{pos}``, since circuit-tracer's ``0_{layer}_{pos}`` can collide with a layer-0
feature's id. Reading never parses ids: what a node is comes from its fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from babellens.errors import InvalidInputError
from babellens.graphs.graph import AttributionGraph, NodeRef
from babellens.graphs.pruning import GraphScores, PrunedGraph
from babellens.graphs.report import (
    FEATURE_TYPES,
    GraphLink,
    GraphMetadata,
    GraphNode,
    GraphReport,
)

__all__ = ["check_graph_json", "graph_report", "node_id", "read_graph_json", "write_graph_json"]

_REQUIRED = {
    "": ("metadata", "qParams", "nodes", "links"),
    "metadata": ("slug", "scan", "prompt_tokens", "prompt"),
    "node": ("node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"),
    "link": ("source", "target", "weight"),
}


def node_id(ref: NodeRef, n_layers: int) -> str:
    if ref.kind == "feature":
        return f"{ref.layer}_{ref.index}_{ref.pos}"
    if ref.kind == "error":
        return f"{ref.layer}_error_mlp_{ref.pos}"
    if ref.kind == "token":
        return f"E_{ref.index}_{ref.pos}"
    return f"{n_layers + 1}_{ref.index}_{ref.pos}"


def _js_node_id(ref: NodeRef) -> str:
    if ref.kind == "feature":
        return f"{ref.layer}_{ref.index}-0"
    if ref.kind == "error":
        return f"{ref.layer}_{ref.pos}-0"
    if ref.kind == "token":
        return f"E_{ref.index}-{ref.pos}"
    return f"L_{ref.index}-{ref.pos}"


def _node(
    graph: AttributionGraph, i: int, influence: float, tokens: list[str], vocab: Callable
) -> GraphNode:
    ref = graph.node(i)
    layer = {"token": "E", "logit": str(graph.n_layers + 1)}.get(ref.kind, str(ref.layer))
    feature = {"error": None, "token": ref.index}.get(ref.kind, ref.index)
    extra: dict[str, Any] = {}
    if ref.kind == "feature":
        extra["activation"] = float(graph.activations[i])
        clerp = ""
    elif ref.kind == "error":
        clerp = f'Err: mlp "{tokens[ref.pos]}"'
    elif ref.kind == "token":
        clerp = f'Emb: "{tokens[ref.pos]}"'
    else:
        k = i - graph.logit_start
        prob = float(graph.logit_probabilities[k])
        extra |= {"token_prob": prob, "is_target_logit": k == 0}
        clerp = f'Output "{vocab(ref.index)}" (p={prob:.3f})'
    return GraphNode(
        node_id=node_id(ref, graph.n_layers),
        feature=feature,
        layer=layer,
        ctx_idx=ref.pos,
        feature_type=FEATURE_TYPES[ref.kind],
        jsNodeId=_js_node_id(ref),
        clerp=clerp,
        influence=influence if ref.kind in ("feature", "error") else None,
        **extra,
    )


def graph_report(
    graph: AttributionGraph,
    pruned: PrunedGraph,
    scores: GraphScores,
    *,
    prompt: str,
    tokens: list[str],
    vocab: Callable[[int], str],
    scan: str,
    transcoders: str = "",
    settings: dict[str, Any] | None = None,
    slug: str | None = None,
) -> GraphReport:
    """The pruned graph as a report; ``influence`` is the node's share of the logits' influence."""
    total = float(pruned.node_influence[: graph.token_start].sum()) or 1.0
    keep = pruned.node_mask.nonzero().flatten().tolist()
    nodes = {
        i: _node(graph, i, float(pruned.node_influence[i]) / total, tokens, vocab) for i in keep
    }
    targets, sources = pruned.edge_mask.nonzero(as_tuple=True)
    links = [
        GraphLink(
            source=nodes[s].node_id, target=nodes[t].node_id, weight=float(graph.adjacency[t, s])
        )
        for t, s in zip(targets.tolist(), sources.tolist(), strict=True)
        if s in nodes and t in nodes
    ]
    settings = settings or {}
    metadata = GraphMetadata(
        slug=slug or f"babellens-{int(time.time())}",
        scan=scan,
        prompt_tokens=tokens,
        prompt=prompt,
        transcoder_list=[transcoders] if transcoders else [],
        node_threshold=settings.get("node_threshold"),
        info={"generator": {"name": "babellens", "url": "https://github.com/babellens"}},
        generation_settings={
            k: settings[k]
            for k in ("max_logits", "logit_probability", "batch_size")
            if k in settings
        },
        pruning_settings={
            k: settings[k] for k in ("node_threshold", "edge_threshold") if k in settings
        },
        prompt_token_ids=graph.input_ids.tolist(),
        scores={"replacement": scores.replacement, "completeness": scores.completeness},
        n_layers=graph.n_layers,
    )
    return GraphReport(metadata=metadata, nodes=list(nodes.values()), links=links)


def check_graph_json(data: Any) -> None:
    """Refuse data missing a field the schema requires, naming the first one missing."""
    if not isinstance(data, dict):
        raise InvalidInputError(
            "a graph file is one JSON object with metadata, qParams, nodes, links"
        )
    _require(data, "", "the graph")
    _require(data["metadata"], "metadata", "metadata")
    for where, key in (("nodes", "node"), ("links", "link")):
        if not isinstance(data[where], list):
            raise InvalidInputError(f"invalid graph file: {where} must be a list")
        for i, item in enumerate(data[where]):
            _require(item, key, f"{where}[{i}]")


def _require(item: Any, section: str, where: str) -> None:
    if not isinstance(item, dict):
        raise InvalidInputError(f"invalid graph file: {where} must be an object")
    missing = [key for key in _REQUIRED[section] if key not in item]
    if missing:
        raise InvalidInputError(
            f"invalid graph file: {where} lacks {', '.join(missing)} (Neuronpedia's graph schema)"
        )


def read_graph_json(source: str | Path | dict[str, Any]) -> GraphReport:
    """A graph file (ours, Neuronpedia's or circuit-tracer's) as a report, checked first."""
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"no graph file at {str(path)!r}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{path.name} is not valid JSON: {exc}") from None
    check_graph_json(data)
    for node in data["nodes"]:
        node["layer"] = str(node["layer"])
    try:
        report = GraphReport.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise InvalidInputError(f"invalid graph file: {where}: {err.get('msg')}") from None
    ids = {node.node_id for node in report.nodes}
    dangling = next((link for link in report.links if not {link.source, link.target} <= ids), None)
    if dangling is not None:
        raise InvalidInputError(
            f"invalid graph file: link {dangling.source} -> {dangling.target} names a missing node"
        )
    return report


def write_graph_json(report: GraphReport, path: str | Path) -> Path:
    out = Path(path)
    out.write_text(report.model_dump_json(indent=1), encoding="utf-8")
    return out
