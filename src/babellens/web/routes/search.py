"""Search every model at once: the top bar's search box lands here.

On a model's own pages the box searches that model (``model=``); elsewhere it asks every model
with a finished scan, because a newcomer looking for "dates" or "Russian" does not yet know which
model has the unit. The box has one field, so what to search by is read off the query unless
``by`` says: a ``LAYER/INDEX`` is a neuron id, anything else is looked up in the explanations.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from babellens.errors import InvalidInputError
from babellens.web.deps import DbDep, SettingsDep
from babellens.web.pages import page
from babellens.web.queries import model_card, model_cards, search, search_kind
from babellens.web.schemas import SearchEverywhere

router = APIRouter()


@page(router, "/search", "search_all.html", title="Search")
def search_everywhere(
    db: DbDep,
    settings: SettingsDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    by: Literal["neuron", "token", "explanation", "meaning"] | None = None,
    model: Annotated[str | None, Query(max_length=512, description="A model's slug")] = None,
) -> SearchEverywhere:
    by = by or search_kind(q)
    cards = [model_card(db, model)] if model else model_cards(db)
    results = []
    for card in cards:
        try:
            results.append(search(db, card, q, by, settings.max_page_size))
        except InvalidInputError as exc:
            if by != "neuron" or "LAYER/NEURON" in str(exc):
                raise  # a malformed query is the user's to fix, once, not per model
            # a neuron id that exists in some models only: the others just have no hit
    return SearchEverywhere(query=q, by=by, model=model, results=results)
