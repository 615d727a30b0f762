"""A graph as stored, served and exchanged: Neuronpedia's graph JSON, as one typed report.

The fields are those of the attribution-graph schema that Neuronpedia's viewer and
circuit-tracer's local server read (``metadata``, ``qParams``, ``nodes``, ``links``); what
BabelLens adds (scores, token ids, the graph's settings) lives in ``metadata`` keys the schema
leaves open, so a graph made here opens there and theirs opens here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from babellens.graphs.graph import NodeRef
from babellens.report import Report

__all__ = [
    "FEATURE_TYPES",
    "GraphLink",
    "GraphMetadata",
    "GraphNode",
    "GraphQParams",
    "GraphReport",
]

FEATURE_TYPES = {
    "feature": "cross layer transcoder",
    "error": "mlp reconstruction error",
    "token": "embedding",
    "logit": "logit",
}
_KINDS = {v: k for k, v in FEATURE_TYPES.items()} | {"transcoder": "feature", "lorsa": "feature"}


class GraphMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    slug: str
    scan: str
    prompt_tokens: list[str]
    prompt: str
    transcoder_list: list[str] = Field(default_factory=list)
    node_threshold: float | None = None
    info: dict[str, Any] = Field(default_factory=dict)
    generation_settings: dict[str, Any] = Field(default_factory=dict)
    pruning_settings: dict[str, Any] = Field(default_factory=dict)
    prompt_token_ids: list[int] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)
    n_layers: int | None = None


class GraphQParams(BaseModel):
    """The viewer's saved state: pinned nodes, supernodes (``[name, id, id, ...]``), the click."""

    model_config = ConfigDict(extra="allow")

    pinnedIds: list[str] = Field(default_factory=list)
    supernodes: list[list[str]] = Field(default_factory=list)
    linkType: str = "both"
    clickedId: str = ""
    sg_pos: str = ""


class GraphNode(BaseModel):
    model_config = ConfigDict(extra="allow")

    node_id: str
    feature: int | None
    layer: str
    ctx_idx: int
    feature_type: str
    jsNodeId: str
    clerp: str = ""
    influence: float | None = None
    activation: float | None = None
    token_prob: float = 0.0
    is_target_logit: bool = False

    def ref(self, n_layers: int) -> NodeRef:
        """What the node is, read from its fields (never from its id: conventions differ)."""
        kind = _KINDS.get(self.feature_type)
        if kind is None:
            raise ValueError(f"unknown feature_type {self.feature_type!r}")
        if kind == "token":
            return NodeRef("token", -1, self.ctx_idx, int(self.feature or 0))
        if kind == "logit":
            return NodeRef("logit", n_layers, self.ctx_idx, int(self.feature or 0))
        index = -1 if kind == "error" else int(self.feature or 0)
        return NodeRef(kind, int(self.layer), self.ctx_idx, index)


class GraphLink(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: str
    target: str
    weight: float


class GraphReport(Report):
    """One pruned attribution graph in Neuronpedia's graph JSON layout."""

    report_kind: ClassVar[str] = "graph"
    report_version: ClassVar[int] = 1
    model_config = ConfigDict(extra="allow")

    metadata: GraphMetadata
    qParams: GraphQParams = Field(default_factory=GraphQParams)
    nodes: list[GraphNode]
    links: list[GraphLink]

    def node_by_id(self) -> dict[str, GraphNode]:
        return {node.node_id: node for node in self.nodes}

    @property
    def n_layers(self) -> int:
        if self.metadata.n_layers is not None:
            return self.metadata.n_layers
        logits = [int(n.layer) for n in self.nodes if n.feature_type == "logit"]
        return max(logits) - 1 if logits else 0
