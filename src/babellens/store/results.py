"""Reading and writing analysis results: scan windows, neuron statistics, next-token neurons."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, Field
from sqlalchemy import delete, insert, select

from babellens.analyses.neuron_scan.expert_units import unit_parts
from babellens.analyses.neuron_scan.histogram import bin_edges
from babellens.analyses.next_token_neurons import NextTokenNeuron, TokenScore
from babellens.data.corpus import Corpus
from babellens.data.windows import Window
from babellens.errors import InvalidInputError
from babellens.store.database import Database
from babellens.store.jobs import latest_job
from babellens.store.schema import JobRow, NeuronStatRow, ScanWindowRow, TokenNeuronRow

__all__ = ["Histogram", "LayerScan", "NeuronExample", "NeuronRecord", "ResultStore"]

Decode = Callable[[Sequence[int]], list[str]]


class Histogram(BaseModel):
    edges: list[float] = Field(
        description="Inner bin edges; bin 0 is below edges[0], the last bin at or above edges[-1]"
    )
    counts: list[int]


class NeuronExample(BaseModel):
    rank: int
    window: int
    doc_id: str
    lang: str | None
    position: int = Field(description="Token position of the maximum within the window")
    value: float
    token_ids: list[int]
    tokens: list[str]
    activations: list[float | None] = Field(
        description="This unit at every token of the window (float16 precision); None where the "
        "router did not send the token to the unit's expert"
    )


class NeuronRecord(BaseModel):
    job_id: int
    model: str
    layer: int
    neuron: int
    max: float
    mean: float
    density: float = Field(description="Fraction of tokens where the activation is above zero")
    histogram: Histogram
    examples: list[NeuronExample]
    congruence: NextTokenNeuron | None = None
    expert: int | None = Field(
        None,
        description="Mixture-of-experts layer: the unit's expert (its max, mean, density and "
        "histogram are of the tokens routed to that expert)",
    )
    expert_neuron: int | None = Field(None, description="The unit's neuron within its expert")
    shared_neuron: int | None = Field(
        None,
        description="Mixture-of-experts layer: the unit is this neuron of the layer's shared "
        "expert, which every token goes through",
    )
    routed_tokens: int | None = Field(
        None, description="Mixture-of-experts layer: the scanned tokens routed to the expert"
    )


@dataclass(frozen=True)
class LayerScan:
    """One layer's reduced scan as plain CPU tensors, one row per unit: what the store keeps of
    any unit scan (MLP neurons, dictionary features), so the store needs no scan internals."""

    act_max: torch.Tensor  # [units]
    mean: torch.Tensor  # [units]
    density: torch.Tensor  # [units]
    hist: torch.Tensor  # [units, bins]
    top_values: torch.Tensor  # [units, k], best first; window -1 marks an empty slot
    top_windows: torch.Tensor  # [units, k]
    top_positions: torch.Tensor  # [units, k]
    top_acts: torch.Tensor  # [units, k, window_len], float16

    @property
    def units(self) -> int:
        return int(self.act_max.shape[0])


class ResultStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- scans ------------------------------------------------------------------------------
    def clear_scan(self, job_id: int) -> None:
        with self.db.session() as s:
            s.execute(delete(NeuronStatRow).where(NeuronStatRow.job_id == job_id))
            s.execute(delete(ScanWindowRow).where(ScanWindowRow.job_id == job_id))

    def save_windows(
        self, job_id: int, windows: Sequence[Window], corpus: Corpus, used: set[int]
    ) -> None:
        rows = [
            {
                "job_id": job_id,
                "window": w.index,
                "doc_id": corpus.documents[w.doc_index].id,
                "lang": corpus.documents[w.doc_index].lang,
                "start": w.start,
                "token_ids": list(w.token_ids),
            }
            for w in windows
            if w.index in used
        ]
        with self.db.session() as s:
            for start in range(0, len(rows), 2000):
                s.execute(insert(ScanWindowRow), rows[start : start + 2000])

    def save_layer(self, job_id: int, layer: int, scan: LayerScan) -> None:
        maxes, means, density = (
            scan.act_max.tolist(),
            scan.mean.cpu().tolist(),
            scan.density.cpu().tolist(),
        )
        hist = scan.hist.tolist()
        values, wins, pos = scan.top_values, scan.top_windows, scan.top_positions
        acts = scan.top_acts.numpy()
        rows = []
        for n in range(scan.units):
            keep = wins[n] >= 0
            examples = [
                {"window": int(w), "position": int(p), "value": float(v)}
                for w, p, v in zip(wins[n][keep], pos[n][keep], values[n][keep], strict=True)
            ]
            rows.append(
                {
                    "job_id": job_id,
                    "layer": layer,
                    "neuron": n,
                    "max": maxes[n],
                    "mean": means[n],
                    "density": density[n],
                    "hist": hist[n],
                    "examples": examples,
                    "example_acts": acts[n][: len(examples)].tobytes(),
                }
            )
        with self.db.session() as s:
            s.execute(
                delete(NeuronStatRow).where(
                    NeuronStatRow.job_id == job_id, NeuronStatRow.layer == layer
                )
            )
            for start in range(0, len(rows), 2000):
                s.execute(insert(NeuronStatRow), rows[start : start + 2000])

    def neuron(self, job_id: int, layer: int, neuron: int, decode: Decode) -> NeuronRecord:
        with self.db.session() as s:
            job = s.get(JobRow, job_id)
            row = s.get(NeuronStatRow, (job_id, layer, neuron))
            if job is None or row is None:
                raise InvalidInputError(
                    f"no scan result for layer {layer}, neuron {neuron} in job {job_id}"
                )
            window_ids = [e["window"] for e in row.examples]
            windows = {
                w.window: w
                for w in s.scalars(
                    select(ScanWindowRow).where(
                        ScanWindowRow.job_id == job_id, ScanWindowRow.window.in_(window_ids)
                    )
                )
            }
            window_len = int(job.params.get("window_len", 128))
            acts = np.frombuffer(row.example_acts, dtype=np.float16).reshape(-1, window_len)
            examples = []
            for rank, ex in enumerate(row.examples):
                w = windows[ex["window"]]
                ids = list(w.token_ids)
                examples.append(
                    NeuronExample(
                        rank=rank,
                        window=ex["window"],
                        doc_id=w.doc_id,
                        lang=w.lang,
                        position=ex["position"],
                        value=ex["value"],
                        token_ids=ids,
                        tokens=decode(ids),
                        activations=[None if a != a else float(a) for a in acts[rank][: len(ids)]],
                    )
                )
            layout = (job.summary or {}).get("expert_layers", {}).get(str(layer))
            expert, part = (None, None) if layout is None else unit_parts(neuron, *layout[:2])
            return NeuronRecord(
                job_id=job_id,
                model=job.model,
                layer=layer,
                neuron=neuron,
                max=row.max,
                mean=row.mean,
                density=row.density,
                histogram=Histogram(edges=bin_edges().tolist(), counts=row.hist),
                examples=examples,
                expert=expert,
                expert_neuron=part if expert is not None else None,
                shared_neuron=part if layout is not None and expert is None else None,
                routed_tokens=sum(row.hist) if expert is not None else None,
            )

    def latest_job(self, model: str, kind: str, status: str = "done") -> int | None:
        job = latest_job(self.db, model, kind, status)
        return job.id if job is not None else None

    # ---- next-token neurons ------------------------------------------------------------------
    def save_token_neurons(self, job_id: int, neurons: Sequence[NextTokenNeuron]) -> None:
        rows = [
            {
                "job_id": job_id,
                "layer": n.layer,
                "neuron": n.neuron,
                "score": n.score,
                "word_score": n.word_score,
                "word_token": n.word_token.model_dump() if n.word_token else None,
                "promoted": [t.model_dump() for t in n.promoted],
                "suppressed": [t.model_dump() for t in n.suppressed],
            }
            for n in neurons
        ]
        with self.db.session() as s:
            s.execute(delete(TokenNeuronRow).where(TokenNeuronRow.job_id == job_id))
            for start in range(0, len(rows), 2000):
                s.execute(insert(TokenNeuronRow), rows[start : start + 2000])

    def token_neuron(self, job_id: int, layer: int, neuron: int) -> NextTokenNeuron | None:
        with self.db.session() as s:
            row = s.get(TokenNeuronRow, (job_id, layer, neuron))
            return _token_neuron(row) if row is not None else None

    def top_token_neurons(
        self, job_id: int, layer: int | None, top: int, *, words_only: bool = True
    ) -> list[NextTokenNeuron]:
        order = TokenNeuronRow.word_score if words_only else TokenNeuronRow.score
        query = (
            select(TokenNeuronRow)
            .where(TokenNeuronRow.job_id == job_id)
            .order_by(order.desc())
            .limit(top)
        )
        if layer is not None:
            query = query.where(TokenNeuronRow.layer == layer)
        with self.db.session() as s:
            return [_token_neuron(r) for r in s.scalars(query)]


def _token_neuron(row: TokenNeuronRow) -> NextTokenNeuron:
    return NextTokenNeuron(
        layer=row.layer,
        neuron=row.neuron,
        score=row.score,
        word_score=row.word_score,
        word_token=TokenScore(**row.word_token) if row.word_token else None,
        promoted=[TokenScore(**t) for t in row.promoted],
        suppressed=[TokenScore(**t) for t in row.suppressed],
    )
