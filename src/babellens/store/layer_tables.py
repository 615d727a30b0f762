"""The neuron tables of one layer, as the model and layer pages read them: per-layer totals,
one sorted page of neurons beside their congruence, and the promoted tokens to search.

The SQL lives here, in the store; the web turns these plain records into its page models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, func, select

from babellens.store.database import Database
from babellens.store.schema import NeuronStatRow, TokenNeuronRow

__all__ = [
    "LAYER_SORTS",
    "LayerTotals",
    "NeuronListing",
    "congruent_layers",
    "layer_listing",
    "layer_totals",
    "promoted_tokens",
]

LayerSort = Literal["max", "density", "mean", "neuron", "congruence"]


@dataclass(frozen=True)
class LayerTotals:
    layer: int
    neurons: int
    mean_max: float
    mean_density: float
    dead: int  # neurons that never went above zero


@dataclass(frozen=True)
class NeuronListing:
    neuron: int
    max: float
    mean: float
    density: float
    congruence: float | None
    word_token: dict[str, Any] | None
    promoted: list[dict[str, Any]] | None


# whole-word congruence; a vocabulary without whole-word tokens (-inf) falls back to any token
_CONGRUENCE = case(
    (TokenNeuronRow.word_score > -1e300, TokenNeuronRow.word_score), else_=TokenNeuronRow.score
)
_SORTS = {
    "max": NeuronStatRow.max,
    "density": NeuronStatRow.density,
    "mean": NeuronStatRow.mean,
    "neuron": NeuronStatRow.neuron,
    "congruence": _CONGRUENCE,
}
LAYER_SORTS: tuple[str, ...] = tuple(_SORTS)


def layer_totals(db: Database, scan_job: int) -> list[LayerTotals]:
    stat = NeuronStatRow
    query = (
        select(
            stat.layer,
            func.count(),
            func.avg(stat.max),
            func.avg(stat.density),
            func.sum(case((stat.max <= 0, 1), else_=0)),
        )
        .where(stat.job_id == scan_job)
        .group_by(stat.layer)
        .order_by(stat.layer)
    )
    with db.session() as s:
        rows = s.execute(query).all()
    return [
        LayerTotals(int(layer), int(n), float(mx), float(dens), int(dead or 0))
        for layer, n, mx, dens, dead in rows
    ]


def congruent_layers(db: Database, token_job: int | None) -> set[int]:
    """The layers a next-token-neuron job scored (none without a job)."""
    if token_job is None:
        return set()
    query = select(TokenNeuronRow.layer).where(TokenNeuronRow.job_id == token_job).distinct()
    with db.session() as s:
        return set(s.scalars(query))


def layer_listing(
    db: Database,
    scan_job: int,
    token_job: int | None,
    layer: int,
    *,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[int, list[NeuronListing]]:
    """How many neurons the layer has, and one sorted page of them (ties by neuron index)."""
    join_on = and_(
        TokenNeuronRow.job_id == (token_job or -1),
        TokenNeuronRow.layer == NeuronStatRow.layer,
        TokenNeuronRow.neuron == NeuronStatRow.neuron,
    )
    order = _SORTS[sort].desc() if descending else _SORTS[sort].asc()
    in_layer = (NeuronStatRow.job_id == scan_job, NeuronStatRow.layer == layer)
    query = (
        select(
            NeuronStatRow.neuron,
            NeuronStatRow.max,
            NeuronStatRow.mean,
            NeuronStatRow.density,
            _CONGRUENCE,
            TokenNeuronRow.word_token,
            TokenNeuronRow.promoted,
        )
        .outerjoin(TokenNeuronRow, join_on)
        .where(*in_layer)
        .order_by(order.nulls_last(), NeuronStatRow.neuron)
        .offset(offset)
        .limit(limit)
    )
    with db.session() as s:
        count = select(func.count()).select_from(NeuronStatRow).where(*in_layer)
        total = s.scalar(count) or 0
        rows = s.execute(query).all()
    return total, [NeuronListing(*row) for row in rows]


def promoted_tokens(db: Database, token_job: int) -> list[tuple[int, int, list[dict[str, Any]]]]:
    """(layer, neuron, promoted tokens best first) of every neuron a next-token job scored."""
    query = select(TokenNeuronRow.layer, TokenNeuronRow.neuron, TokenNeuronRow.promoted).where(
        TokenNeuronRow.job_id == token_job
    )
    with db.session() as s:
        return [(layer, neuron, promoted) for layer, neuron, promoted in s.execute(query)]
