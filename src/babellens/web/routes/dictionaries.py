"""Dictionary pages: the list, one dictionary (metrics, members, feature table), one feature.

Features are shown like neurons: the same record (statistics, histogram, top examples) from the
same scan tables, with the promoted and suppressed tokens the scan job stored for every feature,
and the explanations an ``explain --dictionary`` job stored under the dictionary's unit source.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from babellens.analyses.next_token_neurons import TokenScore
from babellens.autointerp.units import dictionary_source, feature_unit
from babellens.errors import InvalidInputError, NotFoundError
from babellens.store.dictionaries import DictionaryInfo, DictionaryStore, FeatureRow
from babellens.store.explanations import ExplanationStore, StoredExplanation
from babellens.store.reports import ReportStore
from babellens.store.results import NeuronRecord, ResultStore
from babellens.web.charts import histogram_chart
from babellens.web.deps import DbDep, SettingsDep
from babellens.web.pages import page
from babellens.web.queries import decoder, layer_explanations
from babellens.web.schemas import Chart

router = APIRouter()

DictId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Dictionary id")]
FeatureIndex = Annotated[int, Path(ge=0, le=10_000_000, description="Feature index")]
Member = Annotated[int, Query(ge=0, le=100_000, description="Member of a set (0 for one)")]


class DictionariesPage(BaseModel):
    model: str | None
    dictionaries: list[DictionaryInfo]


class FeatureExplanation(BaseModel):
    """A feature's best explanation in the table: its text and detection beside chance."""

    explanation: str
    detection: float | None
    detection_random: float | None = Field(description="Detection for a random explanation")


class DictionaryPage(BaseModel):
    info: DictionaryInfo
    member: int
    scan_job: int | None
    features: list[FeatureRow]
    total: int
    sort: str
    descending: bool
    offset: int
    limit: int
    explanations: dict[int, FeatureExplanation] = Field(
        default_factory=dict,
        description="The listed features' best explanations, by feature index (explained ones)",
    )


class FeaturePage(BaseModel):
    info: DictionaryInfo
    member: int
    hook_in: str
    index: int
    record: NeuronRecord | None
    promoted: list[TokenScore]
    suppressed: list[TokenScore]
    previous: int | None
    next: int | None
    charts: list[Chart] = Field(default_factory=list, description="What the charts plot")
    explanations: list[StoredExplanation] = Field(
        default_factory=list,
        description="Its explanations (unit dict:ID/MEMBER/INDEX), best detection first",
    )


def _member(info: DictionaryInfo, member: int) -> str:
    if member >= len(info.members):
        raise NotFoundError(f"dictionary {info.id} has members 0..{len(info.members) - 1}")
    return info.members[member][0]


@page(router, "/dictionaries", "dictionaries.html", title="Dictionaries", nav=35)
def dictionaries(
    db: DbDep, model: Annotated[str | None, Query(max_length=512)] = None
) -> DictionariesPage:
    return DictionariesPage(model=model, dictionaries=DictionaryStore(db).list(model))


@page(router, "/dictionaries/{dict_id}", "dictionary.html", title="Dictionary")
def dictionary(
    db: DbDep,
    settings: SettingsDep,
    dict_id: DictId,
    member: Member = 0,
    sort: Literal["max", "density", "mean", "feature"] = "max",
    descending: bool = True,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> DictionaryPage:
    store = DictionaryStore(db)
    info = store.get(dict_id)
    _member(info, member)
    limit = min(limit, settings.max_page_size)
    scan_job = info.metrics.get("scan", {}).get("job_id")
    features, total = ([], 0)
    if scan_job is not None:
        features, total = store.feature_rows(
            scan_job, member, sort=sort, descending=descending, offset=offset, limit=limit
        )
    explained = layer_explanations(db, info.model, member, dictionary_source(dict_id))
    return DictionaryPage(
        info=info,
        member=member,
        scan_job=scan_job,
        features=features,
        total=total,
        sort=sort,
        descending=descending,
        offset=offset,
        limit=limit,
        explanations={f.index: explained[f.index] for f in features if f.index in explained},
    )


@page(router, "/dictionaries/{dict_id}/features/{index}", "feature.html", title="Feature")
def feature(db: DbDep, dict_id: DictId, index: FeatureIndex, member: Member = 0) -> FeaturePage:
    from babellens.jobs.dictionary_jobs import FeatureTokensReport

    info = DictionaryStore(db).get(dict_id)
    hook_in = _member(info, member)
    if index >= info.width:
        raise NotFoundError(f"dictionary {dict_id} has features 0..{info.width - 1}")
    scan_job = info.metrics.get("scan", {}).get("job_id")
    record, promoted, suppressed = None, [], []
    if scan_job is not None:
        decode = decoder(info.model)
        try:
            record = ResultStore(db).neuron(scan_job, member, index, decode)
        except InvalidInputError as exc:
            raise NotFoundError(str(exc)) from exc
        tokens = ReportStore(db).get(scan_job, FeatureTokensReport).members[member]

        def scores(ids: list[int], values: list[float]) -> list[TokenScore]:
            return [
                TokenScore(token_id=i, token="".join(decode([i])), score=v)
                for i, v in zip(ids, values, strict=True)
            ]

        promoted = scores(tokens.top_ids[index], tokens.top_values[index])
        suppressed = scores(tokens.bottom_ids[index], tokens.bottom_values[index])
    return FeaturePage(
        info=info,
        member=member,
        hook_in=hook_in,
        index=index,
        record=record,
        promoted=promoted,
        suppressed=suppressed,
        previous=index - 1 if index > 0 else None,
        next=index + 1 if index + 1 < info.width else None,
        charts=[] if record is None else [histogram_chart(record.histogram, "feature")],
        explanations=ExplanationStore(db).for_unit(
            info.model, feature_unit(dict_id, member, index)
        ),
    )
