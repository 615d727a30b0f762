"""Model, layer and neuron pages, and search within a model."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from babellens.store import JobStore
from babellens.store.dictionaries import DictionaryStore
from babellens.web.charts import histogram_chart, layer_chart
from babellens.web.deps import DbDep, LayerIndex, NeuronIndex, SettingsDep
from babellens.web.pages import page
from babellens.web.queries import (
    decode_text,
    layer_page,
    layer_stats,
    model_card,
    neuron_links,
    neuron_record,
    search,
)
from babellens.web.schemas import LayerPage, ModelPage, NeuronPage, SearchResults

router = APIRouter()


@page(router, "/models/{slug}", "model.html", title="Model")
def model(db: DbDep, slug: str) -> ModelPage:
    card = model_card(db, slug)
    summary = dict(JobStore(db).get(card.scan_job).summary.get("model_summary", {}))
    layers = layer_stats(db, card)
    return ModelPage(
        card=card,
        summary=summary,
        layers=layers,
        charts=[layer_chart(layers)],
        dictionaries=DictionaryStore(db).list(card.model),
    )


@page(router, "/models/{slug}/layers/{layer}", "layer.html", title="Layer")
def layer(
    db: DbDep,
    settings: SettingsDep,
    slug: str,
    layer: LayerIndex,
    sort: Literal["max", "density", "mean", "congruence", "neuron"] = "max",
    descending: bool = True,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> LayerPage:
    card = model_card(db, slug)
    limit = min(limit, settings.max_page_size)
    return layer_page(db, card, layer, sort=sort, descending=descending, offset=offset, limit=limit)


@page(router, "/models/{slug}/layers/{layer}/neurons/{neuron}", "neuron.html", title="Neuron")
def neuron(db: DbDep, slug: str, layer: LayerIndex, neuron: NeuronIndex) -> NeuronPage:
    card = model_card(db, slug)
    record = neuron_record(db, card, layer, neuron)
    sample = ""
    if record.examples:
        top = record.examples[0]
        sample = decode_text(
            card.model, top.token_ids[max(top.position - 24, 0) : top.position + 1]
        )
    return NeuronPage(
        card=card,
        record=record,
        neighbours=neuron_links(card, layer, neuron),
        explanations=_explanations(db, card.model, layer, neuron),
        sample_prompt=sample.strip(),
        charts=[histogram_chart(record.histogram)],
    )


def _explanations(db: DbDep, model: str, layer: int, neuron: int) -> list[dict]:
    from babellens.autointerp.units import UnitRef
    from babellens.store.explanations import ExplanationStore

    found = ExplanationStore(db).for_unit(model, UnitRef(layer=layer, index=neuron))
    return [e.model_dump(mode="json", exclude={"record"}) for e in found]


@page(router, "/models/{slug}/search", "search.html", title="Search")
def search_model(
    db: DbDep,
    settings: SettingsDep,
    slug: str,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    by: Literal["neuron", "token", "explanation", "meaning"] = "neuron",
) -> SearchResults:
    card = model_card(db, slug)
    return search(db, card, q, by, settings.max_page_size)
