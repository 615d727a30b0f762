"""Which feature page each feature node of a stored graph opens, when its transcoders are stored.

The set is read from the graph job's own parameters, not from the graph's metadata: an imported
file keeps the ``transcoder_list`` of the machine that made it, where ``7`` may name another
database's dictionary, while its job here says ``file:NAME``. A node whose layer the set does not
cover, or whose index is past the set's width, gets no link rather than a wrong one.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from babellens.errors import NotFoundError
from babellens.graphs.report import FEATURE_TYPES, GraphNode, GraphReport
from babellens.store import Database, JobStore
from babellens.store.dictionaries import DictionaryInfo, DictionaryStore
from babellens.store.transcoder_sets import member_of_layer, stored_set_id

__all__ = ["GraphFeatureLinks", "feature_href", "graph_feature_links"]


class GraphFeatureLinks(BaseModel):
    dictionary_id: int | None = Field(
        None,
        description="The stored transcoder set the graph was traced through (null: transcoders "
        "from a folder, or a graph imported from a file)",
    )
    feature_urls: dict[str, str | None] = Field(
        default_factory=dict,
        description="Each feature node's id -> its feature page in that set (null without one)",
    )


def feature_href(dict_id: int, index: int, member: int) -> str:
    """The feature page's address, the one the templates' ``feature_link`` macro writes too."""
    return f"/dictionaries/{dict_id}/features/{index}?member={member}"


def _stored_set(db: Database, job_id: int) -> DictionaryInfo | None:
    spec = JobStore(db).get(job_id).params.get("transcoders")
    dict_id = stored_set_id(spec) if isinstance(spec, str) else None
    if dict_id is None:
        return None
    try:
        info = DictionaryStore(db).get(dict_id)
    except NotFoundError:  # deleted since the graph was made
        return None
    return info if info.kind == "transcoder" else None


def _node_href(info: DictionaryInfo, members: dict[int, int], node: GraphNode) -> str | None:
    member = members.get(int(node.layer)) if node.layer.isdigit() else None
    if member is None or node.feature is None or not 0 <= node.feature < info.width:
        return None
    return feature_href(info.id, node.feature, member)


def graph_feature_links(db: Database, job_id: int, report: GraphReport) -> GraphFeatureLinks:
    """Every feature node of the graph with its feature page, or null when none is stored."""
    features = [n for n in report.nodes if n.feature_type == FEATURE_TYPES["feature"]]
    info = _stored_set(db, job_id)
    if info is None:
        return GraphFeatureLinks(feature_urls={n.node_id: None for n in features})
    members = member_of_layer(info)
    return GraphFeatureLinks(
        dictionary_id=info.id,
        feature_urls={n.node_id: _node_href(info, members, n) for n in features},
    )
