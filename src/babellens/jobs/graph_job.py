"""The ``graph`` job kind: one prompt's attribution graph, with progress, cancel and resume.

The checkpoint is the adjacency rows done so far (the attribution's own RunControl state), so a
resumed job recomputes only the remaining backward passes and ends with the same graph.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from babellens.graphs.attribution import GraphConfig
from babellens.graphs.build import build_graph
from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.registry import JobParams, job_kind
from babellens.store.reports import ReportStore
from babellens.store.transcoder_sets import load_transcoder_set

__all__ = ["GraphJobParams", "run_graph_job"]


class GraphJobParams(GraphConfig, JobParams):
    prompt: str = Field(min_length=1, max_length=2000, description="the prompt to trace")
    transcoders: str = Field(
        min_length=1,
        max_length=1000,
        description="the per-layer transcoder set: a stored set's id (7 or dict:7) or a folder",
    )


@job_kind("graph", params=GraphJobParams, web=False)  # POST /api/graphs checks the pair
def run_graph_job(ctx: JobContext) -> dict[str, Any]:
    """Attribution graph of a prompt through per-layer transcoders."""
    params: GraphJobParams = ctx.params  # type: ignore[assignment]
    lm = cached_model(ctx.job.model, dtype="float32")  # exact edges: float32
    transcoders = load_transcoder_set(ctx.db, params.transcoders)
    config = GraphConfig(**params.model_dump(include=set(GraphConfig.model_fields)))
    built = build_graph(
        lm, transcoders, params.prompt, config, transcoders_id=params.transcoders, control=ctx
    )
    ReportStore(ctx.db).save(ctx.job.id, built.report, model=ctx.job.model)
    return {
        "prompt": params.prompt,
        "features": built.graph.n_features,
        "nodes": len(built.report.nodes),
        "links": len(built.report.links),
        "replacement_score": built.scores.replacement,
        "completeness_score": built.scores.completeness,
    }
