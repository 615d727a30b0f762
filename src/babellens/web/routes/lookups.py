"""Context look-ups: the stored reports, one report's table, and one (neuron, head) pair."""

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from babellens.errors import InvalidInputError
from babellens.lookups.report import HeadLookup, LookupsReport, NeuronLookup
from babellens.store import Database
from babellens.store.lookups import LookupsStore, ReportListing
from babellens.web.charts import lookups_charts
from babellens.web.deps import DbDep, JobId, LayerIndex, NeuronIndex
from babellens.web.pages import page
from babellens.web.queries import NotFoundError
from babellens.web.schemas import Chart

router = APIRouter()

HeadIndex = Annotated[
    int, Path(ge=0, le=100_000, description="Attention head index within its layer")
]


class LookupsListPage(BaseModel):
    reports: list[ReportListing]


class LookupsReportPage(LookupsReport):
    """The report as stored, plus what its charts plot. Its schema keeps the name the API has
    always given this page's model, so the OpenAPI contract only gains the ``charts`` field."""

    __qualname__ = "LookupsReport"
    model_config = ConfigDict(title="LookupsReport")

    charts: list[Chart] = Field(default_factory=list, description="What the charts plot")


class LookupsHeadPage(BaseModel):
    job_id: int
    model: str
    explainer: str
    scorer: str
    neuron: NeuronLookup = Field(description="The neuron (its heads' examples left out)")
    head: HeadLookup


def _report(db: Database, job_id: int) -> LookupsReport:
    try:
        return LookupsStore(db).get(job_id)
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from exc


@page(router, "/lookups", "lookups_list.html", title="Look-ups", nav=40)
def lookups_page(db: DbDep) -> LookupsListPage:
    return LookupsListPage(reports=LookupsStore(db).list())


@page(router, "/lookups/{job_id}", "lookups_report.html", title="Context look-ups")
def lookups_report_page(db: DbDep, job_id: JobId) -> LookupsReportPage:
    report = _report(db, job_id)
    return LookupsReportPage(**dict(report), charts=lookups_charts(report))


@page(
    router,
    "/lookups/{job_id}/neurons/{layer}/{neuron}/heads/{head_layer}/{head}",
    "lookups_head.html",
    title="Look-up head",
)
def lookups_head_page(
    db: DbDep,
    job_id: JobId,
    layer: LayerIndex,
    neuron: NeuronIndex,
    head_layer: LayerIndex,
    head: HeadIndex,
) -> LookupsHeadPage:
    report = _report(db, job_id)
    found = report.pair(layer, neuron, head_layer, head)
    if found is None:
        raise NotFoundError(
            f"report {job_id} explains no head {head_layer}.{head} of neuron {layer}/{neuron}: "
            f"see /lookups/{job_id}"
        )
    n, h = found
    light = n.model_copy(update={"heads": [x.model_copy(update={"examples": []}) for x in n.heads]})
    return LookupsHeadPage(
        job_id=job_id,
        model=report.model,
        explainer=report.explainer,
        scorer=report.scorer,
        neuron=light,
        head=h,
    )
