"""Attribution graphs: the stored graphs, one graph's page, its saved state, interventions.

The page draws the graph from its JSON twin (``/graphs/{id}.json``, Neuronpedia's layout). New
graphs and interventions only use a model and transcoder set that a stored graph already names:
request data never names a file path the server has not been given by its operator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from babellens.errors import InvalidInputError
from babellens.graphs.interventions import FeatureEdit, InterventionResult
from babellens.graphs.report import GraphReport
from babellens.store import Database, Job, JobStore
from babellens.store.reports import ReportStore
from babellens.web.deps import DbDep, JobId, RunnerDep, require_token
from babellens.web.graph_features import GraphFeatureLinks, graph_feature_links
from babellens.web.pages import page
from babellens.web.queries import NotFoundError

router = APIRouter()


class GraphSource(BaseModel):
    model: str
    transcoders: str


class GraphListing(BaseModel):
    job_id: int
    model: str
    created_at: datetime
    prompt: str = ""


class GraphListPage(BaseModel):
    graphs: list[GraphListing]
    sources: list[GraphSource] = Field(description="model and transcoder pairs a new graph may use")


class GraphPage(GraphFeatureLinks):
    """The graph with, per feature node, the feature page a click opens (its dashboard)."""

    job_id: int
    model: str
    graph: GraphReport


class GraphStateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pinnedIds: list[str] = Field(default_factory=list, max_length=500)
    supernodes: list[list[str]] = Field(default_factory=list, max_length=100)


class InterventionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edits: list[FeatureEdit] = Field(min_length=1, max_length=64)
    top: int = Field(5, ge=1, le=20)


class NewGraphRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=512)
    transcoders: str = Field(min_length=1, max_length=1000)
    prompt: str = Field(min_length=1, max_length=2000)


def _report(db: Database, job_id: int) -> tuple[GraphListing, GraphReport]:
    listing = next((r for r in ReportStore(db).list("graph") if r.job_id == job_id), None)
    if listing is None:
        raise NotFoundError(f"job {job_id} has no attribution graph: see /graphs")
    report = ReportStore(db).get(job_id, GraphReport)
    return GraphListing(**listing.model_dump(include={"job_id", "model", "created_at"})), report


def _made_with(db: Database, job_id: int) -> str | None:
    """The transcoder spec the graph's job here was traced with (``file:NAME`` for an import).

    Read from the job, not from the graph's ``transcoder_list``: an imported file keeps the list
    of the machine that made it, where ``7`` may name another database's dictionary."""
    spec = JobStore(db).get(job_id).params.get("transcoders")
    return spec if isinstance(spec, str) and not spec.startswith("file:") else None


def _sources(db: Database) -> list[GraphSource]:
    seen: dict[tuple[str, str], GraphSource] = {}
    for listing in ReportStore(db).list("graph")[:200]:
        spec = _made_with(db, listing.job_id)
        if spec is not None:
            seen.setdefault(
                (listing.model, spec), GraphSource(model=listing.model, transcoders=spec)
            )
    return list(seen.values())


def _made_here(db: Database, job_id: int, report: GraphReport) -> tuple[Any, Any]:
    """The transcoders and prompt ids of a graph made here (imported files name neither)."""
    import torch

    from babellens.store.transcoder_sets import load_transcoder_set

    spec = _made_with(db, job_id)
    if spec is None or not report.metadata.prompt_token_ids:
        raise InvalidInputError(
            "this graph was imported from a file: this needs a graph made here (babellens graph)"
        )
    return load_transcoder_set(db, spec), torch.tensor(report.metadata.prompt_token_ids)


@page(router, "/graphs", "graphs_list.html", title="Graphs", nav=35)
def graphs_page(db: DbDep) -> GraphListPage:
    store = ReportStore(db)
    graphs = [
        GraphListing(
            job_id=r.job_id,
            model=r.model,
            created_at=r.created_at,
            prompt=store.get(r.job_id, GraphReport).metadata.prompt,
        )
        for r in store.list("graph")[:200]
    ]
    return GraphListPage(graphs=graphs, sources=_sources(db))


@page(router, "/graphs/{job_id}", "graph.html", title="Attribution graph")
def graph_page(db: DbDep, job_id: JobId) -> GraphPage:
    listing, report = _report(db, job_id)
    links = graph_feature_links(db, job_id, report)
    return GraphPage(job_id=job_id, model=listing.model, graph=report, **dict(links))


@router.post(
    "/api/graphs/{job_id}/state",
    response_model=GraphReport,
    tags=["graphs"],
    dependencies=[Depends(require_token)],
)
def save_graph_state(db: DbDep, job_id: JobId, body: GraphStateRequest) -> GraphReport:
    """Save the pinned nodes and the named supernodes (``[name, node_id, ...]``) with the graph."""
    listing, report = _report(db, job_id)
    ids = {node.node_id for node in report.nodes}
    unknown = [
        i for i in body.pinnedIds + [n for s in body.supernodes for n in s[1:]] if i not in ids
    ]
    if unknown:
        raise InvalidInputError(f"no node {unknown[0]!r} in graph {job_id}")
    if any(len(s) < 2 for s in body.supernodes):
        raise InvalidInputError("a supernode is [name, node_id, ...] with at least one node")
    report.qParams.pinnedIds = body.pinnedIds
    report.qParams.supernodes = body.supernodes
    ReportStore(db).save(job_id, report, model=listing.model)
    return report


@router.post(
    "/api/graphs/{job_id}/intervene",
    response_model=InterventionResult,
    tags=["graphs"],
    dependencies=[Depends(require_token)],
)
def intervene_on_graph(db: DbDep, job_id: JobId, body: InterventionRequest) -> InterventionResult:
    """Switch off or scale features: new top next tokens of the replacement and the real model."""
    from babellens.graphs.interventions import intervene
    from babellens.jobs.model_cache import cached_model, model_lock

    listing, report = _report(db, job_id)
    transcoders, ids = _made_here(db, job_id, report)
    with model_lock(listing.model):
        lm = cached_model(listing.model, dtype="float32")  # the graph was traced in float32
        return intervene(lm, transcoders, ids, body.edits, top=body.top)


@router.post(
    "/api/graphs",
    response_model=Job,
    status_code=201,
    tags=["graphs"],
    dependencies=[Depends(require_token)],
)
def start_graph(db: DbDep, runner: RunnerDep, body: NewGraphRequest) -> Job:
    """Queue a new graph with a model and transcoder set that an existing graph already used."""
    known = {(s.model, s.transcoders) for s in _sources(db)}
    if (body.model, body.transcoders) not in known:
        raise InvalidInputError(
            "unknown model and transcoder pair: make a first graph with `babellens graph` and use its pair"
        )
    params = {"prompt": body.prompt, "transcoders": body.transcoders}
    job = JobStore(db).create("graph", body.model, params)
    runner.submit(job.id)
    return job


class HeadShare(BaseModel):
    layer: int
    head: int
    weight: float


class EdgeHeads(BaseModel):
    source: str
    target: str
    edge: float
    direct: float = Field(
        description="the part along the residual stream alone (0 across positions)"
    )
    heads: list[HeadShare] = Field(description="the heads carrying most of the edge, largest first")


@router.get("/api/graphs/{job_id}/heads", response_model=EdgeHeads, tags=["graphs"])
def edge_heads(
    db: DbDep,
    job_id: JobId,
    source: Annotated[str, Query(max_length=200)],
    target: Annotated[str, Query(max_length=200)],
    top: Annotated[int, Query(ge=1, le=50)] = 8,
) -> EdgeHeads:
    """Which attention heads carry an edge across positions (its split by head)."""
    from babellens.graphs.frozen import FrozenReplacement
    from babellens.graphs.heads import split_link_by_head
    from babellens.jobs.model_cache import cached_model, model_lock

    listing, report = _report(db, job_id)
    transcoders, ids = _made_here(db, job_id, report)
    with model_lock(listing.model):
        lm = cached_model(listing.model, dtype="float32")  # the graph was traced in float32
        split = split_link_by_head(FrozenReplacement(lm, transcoders, ids), report, source, target)
    return EdgeHeads(
        source=source,
        target=target,
        edge=split.edge,
        direct=split.direct,
        heads=[HeadShare(layer=la, head=h, weight=w) for la, h, w in split.top(top)],
    )
