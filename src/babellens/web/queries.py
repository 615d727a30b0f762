"""Read-only views over the store for the web pages. The web layer never writes results."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from babellens.autointerp.units import NEURON_SOURCE
from babellens.errors import InvalidInputError, NotFoundError
from babellens.models.loading import load_tokenizer
from babellens.models.token_text import token_pieces
from babellens.store import Database, Job, JobStore, NeuronRecord, ResultStore
from babellens.store.jobs import latest_jobs
from babellens.store.layer_tables import (
    NeuronListing,
    congruent_layers,
    layer_listing,
    layer_totals,
    promoted_tokens,
)
from babellens.web.schemas import (
    LayerPage,
    LayerStats,
    ModelCard,
    NeuronLink,
    NeuronRow,
    SearchHit,
    SearchResults,
)
from babellens.web.unit_paths import neuron_path, unit_path

__all__ = [
    "NotFoundError",
    "layer_page",
    "layer_stats",
    "model_card",
    "model_cards",
    "model_slug",
    "neuron_links",
    "neuron_record",
    "search",
    "slug_model",
]


def finished_job(db: Database, job_id: int, kind: str, what: str) -> Job:
    """A finished job of ``kind`` for a report page; anything else is a 404 that says where to look."""
    try:
        job = JobStore(db).get(job_id)
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from exc
    if job.kind != kind or job.status != "done":
        raise NotFoundError(f"job {job_id} is not a finished {what}: see /jobs/{job_id}")
    return job


def model_slug(model: str) -> str:
    return model.replace("/", "--")


def slug_model(slug: str) -> str:
    return slug.replace("--", "/")


def _card(row: Job, token_job: int | None) -> ModelCard:
    summary = row.summary.get("model_summary", {})
    return ModelCard(
        model=row.model,
        slug=model_slug(row.model),
        scan_job=row.id,
        token_job=token_job,
        tokens=int(row.summary.get("tokens", 0)),
        languages=list(row.summary.get("languages", [])),
        n_layers=int(summary.get("n_layers", 0)),
        d_mlp=int(summary.get("d_mlp", 0)),
        expert_units={
            int(layer): n_experts * d_expert + d_shared
            for layer, (n_experts, d_expert, d_shared) in row.summary.get(
                "expert_layers", {}
            ).items()
        },
        architecture=str(summary.get("architecture", "?")),
        dtype=str(summary.get("dtype", "float32")),
        finished_at=row.finished_at,
    )


def model_cards(db: Database) -> list[ModelCard]:
    scans = latest_jobs(db, "scan")
    tokens = latest_jobs(db, "next_token_neurons")
    cards = [_card(row, tokens[m].id if m in tokens else None) for m, row in scans.items()]
    return sorted(cards, key=lambda c: c.scan_job, reverse=True)


def model_card(db: Database, slug: str) -> ModelCard:
    model = slug_model(slug)
    for card in model_cards(db):
        if card.model == model:
            return card
    raise NotFoundError(
        f"no finished scan of {model}: start one from the home page or run `babellens scan {model}`"
    )


def check_layer(card: ModelCard, layer: int) -> None:
    if not 0 <= layer < card.n_layers:
        raise NotFoundError(f"{card.model} has layers 0..{card.n_layers - 1}, not {layer}")


def check_neuron(card: ModelCard, layer: int, neuron: int) -> None:
    check_layer(card, layer)
    units = card.expert_units.get(layer, card.d_mlp)
    if not 0 <= neuron < units:
        raise NotFoundError(f"{card.model} layer {layer} has units 0..{units - 1}, not {neuron}")


def layer_stats(db: Database, card: ModelCard) -> list[LayerStats]:
    congruent = congruent_layers(db, card.token_job)
    return [
        LayerStats(
            layer=t.layer,
            neurons=t.neurons,
            mean_max=t.mean_max,
            mean_density=t.mean_density,
            dead=t.dead,
            has_congruence=t.layer in congruent,
        )
        for t in layer_totals(db, card.scan_job)
    ]


def layer_page(
    db: Database,
    card: ModelCard,
    layer: int,
    *,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> LayerPage:
    check_layer(card, layer)
    total, rows = layer_listing(
        db,
        card.scan_job,
        card.token_job,
        layer,
        sort=sort,
        descending=descending,
        offset=offset,
        limit=limit,
    )
    tops = []
    if card.token_job is not None:
        tops = ResultStore(db).top_token_neurons(card.token_job, layer, 10)
    return LayerPage(
        card=card,
        layer=layer,
        sort=sort,  # type: ignore[arg-type]
        descending=descending,
        offset=offset,
        limit=limit,
        total=total,
        neurons=_neuron_rows(db, card, layer, rows),
        next_token_neurons=tops,
    )


def _neuron_rows(
    db: Database, card: ModelCard, layer: int, rows: list[NeuronListing]
) -> list[NeuronRow]:
    """The store's page of the layer's table, each neuron with its best explanation."""
    explained = _layer_explanations(db, card.model, layer)
    return [
        NeuronRow(
            neuron=r.neuron,
            max=r.max,
            mean=r.mean,
            density=r.density,
            congruence=r.congruence,
            top_token=(r.word_token or (r.promoted or [{}])[0]).get("token"),
            **explained.get(r.neuron, {}),
        )
        for r in rows
    ]


@lru_cache(maxsize=16)
def _tokenizer(model: str) -> Any:
    return load_tokenizer(model)


def decoder(model: str) -> Callable[[Sequence[int]], list[str]]:
    tokenizer = _tokenizer(model)
    return lambda ids: token_pieces(tokenizer, ids)


def decode_text(model: str, ids: Sequence[int]) -> str:
    return _tokenizer(model).decode(list(ids))


def neuron_record(db: Database, card: ModelCard, layer: int, neuron: int) -> NeuronRecord:
    check_neuron(card, layer, neuron)
    results = ResultStore(db)
    try:
        record = results.neuron(card.scan_job, layer, neuron, decoder(card.model))
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from exc
    if card.token_job is not None:
        record.congruence = results.token_neuron(card.token_job, layer, neuron)
    return record


def neuron_links(card: ModelCard, layer: int, neuron: int) -> list[NeuronLink]:
    candidates = [
        ("previous neuron", layer, neuron - 1),
        ("next neuron", layer, neuron + 1),
        ("same index, layer below", layer - 1, neuron),
        ("same index, layer above", layer + 1, neuron),
    ]
    return [
        NeuronLink(label=label, layer=la, neuron=n)
        for label, la, n in candidates
        if 0 <= la < card.n_layers and 0 <= n < card.d_mlp
    ]


_NEURON_ID = re.compile(r"^\s*L?(\d+)\s*[/:.,\s]\s*N?(\d+)\s*$", re.IGNORECASE)


def search_kind(query: str) -> str:
    """What a one-field search box means: a neuron id if it reads as one, else explanation text."""
    return "neuron" if _NEURON_ID.match(query.strip()) else "explanation"


def search(db: Database, card: ModelCard, query: str, by: str, limit: int) -> SearchResults:
    """By neuron id (``5/123``, ``L5N123``), by promoted token, or by explanation text."""
    hits: list[SearchHit] = []
    note = None
    if by == "neuron":
        match = _NEURON_ID.match(query)
        if not match:
            raise InvalidInputError("write a neuron as LAYER/NEURON, e.g. 5/123")
        layer, neuron = int(match[1]), int(match[2])
        check_neuron(card, layer, neuron)
        hits.append(
            SearchHit(
                layer=layer,
                neuron=neuron,
                reason="neuron id",
                url=neuron_path(card.slug, layer, neuron),
            )
        )
    elif by == "token":
        hits = _search_tokens(db, card, query.strip(), limit)
        if card.token_job is None:
            note = "no next-token-neuron analysis yet: run `babellens next-token-neurons MODEL`"
    else:
        hits, note = _search_explanations(db, card, query, meaning=by == "meaning", limit=limit)
    return SearchResults(card=card, query=query, by=by, hits=hits, note=note)  # type: ignore[arg-type]


def _layer_explanations(db: Database, model: str, layer: int) -> dict[int, dict[str, Any]]:
    return layer_explanations(db, model, layer, NEURON_SOURCE)


def layer_explanations(
    db: Database, model: str, layer: int, source: str
) -> dict[int, dict[str, Any]]:
    """Per unit index, its best explanation's text and detection (with the random baseline):
    the explanation column of a layer's or a dictionary member's table."""
    from babellens.store.explanations import ExplanationStore

    return {
        i: {"explanation": e.text, "detection": e.detection, "detection_random": e.detection_random}
        for i, e in ExplanationStore(db).for_layer(model, layer, source).items()
    }


def _search_explanations(
    db: Database, card: ModelCard, query: str, *, meaning: bool, limit: int
) -> tuple[list[SearchHit], str | None]:
    from babellens.autointerp.embedding import default_embedder
    from babellens.store.explanation_search import search_explanations

    embedder = default_embedder() if meaning else None
    found = search_explanations(db, card.model, query, embedder=embedder, limit=limit)
    hits = [
        SearchHit(
            layer=h.explanation.unit.layer,
            neuron=h.explanation.unit.index,
            reason=h.explanation.text,
            score=h.match,
            source=h.explanation.unit.source,
            url=url,
        )
        for h in found
        if (url := unit_path(card.slug, h.explanation.unit)) is not None
    ]
    note = None if hits else "no explanations match: run `babellens explain MODEL --layer L` first"
    return hits, note


def _search_tokens(db: Database, card: ModelCard, needle: str, limit: int) -> list[SearchHit]:
    if card.token_job is None or not needle:
        return []
    wanted = needle.casefold()
    hits = []
    for layer, neuron, promoted in promoted_tokens(db, card.token_job):
        for rank, tok in enumerate(promoted):
            if tok["token"].strip().casefold() == wanted:
                hits.append(
                    SearchHit(
                        layer=layer,
                        neuron=neuron,
                        score=tok["score"],
                        reason=f"promotes {tok['token']!r} (rank {rank + 1})",
                        url=neuron_path(card.slug, layer, neuron),
                    )
                )
                break
    hits.sort(key=lambda h: -(h.score or 0.0))
    return hits[:limit]
