"""The ``graph`` job kind: one prompt's attribution graph, with progress, cancel and resume.

The checkpoint is the adjacency rows done so far (the attribution's own RunControl state), so a
resumed job recomputes only the remaining backward passes and ends with the same graph. The
``graph_compare`` kind checkpoints the finished prompts' graphs (as JSON, which keeps every float),
so a resumed comparison traces only the prompts left.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from babellens.control import StopRequested
from babellens.graphs.attribution import GraphConfig
from babellens.graphs.build import build_graph
from babellens.graphs.compare import CompareReport, compare_prompts, compare_reports
from babellens.graphs.report import GraphReport
from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.ray_graphs import ray_compare_graphs
from babellens.jobs.registry import JobParams, job_kind
from babellens.store.reports import ReportStore
from babellens.store.transcoder_sets import load_transcoder_set

__all__ = ["GraphCompareParams", "GraphJobParams", "run_graph_compare", "run_graph_job"]


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


class GraphCompareParams(GraphConfig, JobParams):
    transcoders: str = Field(
        min_length=1,
        max_length=1000,
        description="the per-layer transcoder set: a stored set's id (7 or dict:7) or a folder",
    )
    prompts: dict[str, str] | None = Field(
        None, max_length=64, description="language -> the same fact's prompt (default: Paris)"
    )
    control_prompts: list[str] | None = Field(
        None, max_length=64, description="unrelated prompts (default: as many as the languages)"
    )


@job_kind("graph_compare", params=GraphCompareParams, web=False)
def run_graph_compare(ctx: JobContext) -> dict[str, Any]:
    """The cross-lingual overlay of parallel prompts' graphs; on Ray, one prompt per actor call."""
    params: GraphCompareParams = ctx.params  # type: ignore[assignment]
    transcoders = load_transcoder_set(ctx.db, params.transcoders)
    config = GraphConfig(**params.model_dump(include=set(GraphConfig.model_fields)))
    if ctx.ray is not None:
        report = ray_compare_graphs(
            ctx.job.model,
            transcoders,
            ctx.ray,
            params.prompts,
            params.control_prompts,
            config,
            control=ctx,
        )
    else:
        report = _compare_here(ctx, params, transcoders, config)
    ReportStore(ctx.db).save(ctx.job.id, report, model=ctx.job.model)
    return _compare_summary(report, "ray" if ctx.ray is not None else "local")


def _compare_here(
    ctx: JobContext, params: GraphCompareParams, transcoders: Any, config: GraphConfig
) -> CompareReport:
    """One prompt's graph after another, each saved as it finishes."""
    prompts, control_prompts = compare_prompts(params.prompts, params.control_prompts)
    everything = [*prompts.values(), *control_prompts]
    saved = ctx.load_state()
    done = saved.meta.get("graphs", []) if saved is not None else []
    reports = [GraphReport.model_validate(r) for r in done]
    lm = cached_model(ctx.job.model, dtype="float32")  # exact edges: float32
    for i in range(len(reports), len(everything)):
        if ctx.should_stop():
            raise StopRequested
        reports.append(build_graph(lm, transcoders, everything[i], config).report)
        meta = {"graphs": [r.model_dump(mode="json") for r in reports]}
        ctx.save_state({}, meta, i + 1)
        ctx.progress(i + 1, len(everything), "prompts")
    return compare_reports(prompts, control_prompts, reports, lm.adapter.n_layers)


def _compare_summary(report: CompareReport, executor: str) -> dict[str, Any]:
    return {
        "languages": list(report.prompts),
        "control_prompts": len(report.control_prompts),
        "layers": len(report.layers),
        "replacement_scores": report.replacement_scores,
        "executor": executor,
    }
