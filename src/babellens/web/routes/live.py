"""Live queries: a prompt typed in the browser, run through the model as you wait.

The endpoints are plain functions, so FastAPI runs them in its thread pool: a forward pass never
blocks the event loop, and page views go on while one runs.
"""

from fastapi import APIRouter

from babellens.web.deps import DbDep, LayerIndex, LiveDep, NeuronIndex, SettingsDep
from babellens.web.pages import page
from babellens.web.queries import check_layer, check_neuron, model_card, model_cards
from babellens.web.schemas import (
    LivePrompt,
    NeuronTrace,
    NeuronTraceRequest,
    TopNeuronsRequest,
    TopNeuronsTrace,
)

router = APIRouter()


@page(router, "/live", "live.html", title="Live prompt", nav=20)
def live_page(db: DbDep, settings: SettingsDep) -> LivePrompt:
    return LivePrompt(
        models=model_cards(db),
        max_prompt_chars=settings.max_prompt_chars,
        max_top_k=settings.max_top_k,
    )


@router.post("/api/models/{slug}/top-neurons", response_model=TopNeuronsTrace, tags=["live"])
def top_neurons(db: DbDep, live: LiveDep, slug: str, body: TopNeuronsRequest) -> TopNeuronsTrace:
    """At every token of the prompt, the k most active neurons of one layer."""
    card = model_card(db, slug)  # only models with a finished scan are served live
    check_layer(card, body.layer)
    return live.top_neurons(card.model, body.text, body.layer, body.k)


@router.post(
    "/api/models/{slug}/layers/{layer}/neurons/{neuron}/trace",
    response_model=NeuronTrace,
    tags=["live"],
)
def neuron_trace(
    db: DbDep,
    live: LiveDep,
    slug: str,
    layer: LayerIndex,
    neuron: NeuronIndex,
    body: NeuronTraceRequest,
) -> NeuronTrace:
    """One neuron's activation at every token of the prompt."""
    card = model_card(db, slug)
    check_neuron(card, layer, neuron)
    return live.neuron(card.model, body.text, layer, neuron)
