"""Unit explanations with their scores and provenance, full-text and by-meaning search over them.

One row per (job, unit, explainer): the text, the four headline numbers (detection and fuzzing,
each with its random-explanation baseline) as columns so layer tables sort on them, and the
whole :class:`~babellens.autointerp.pipeline.ExplainedUnit` as JSON (scores with intervals and
example counts, the judge, the prompt version, the examples used). Full text: SQLite FTS5
(triggers keep it in step) or a PostgreSQL GIN index on ``to_tsvector('simple', ...)``. By
meaning: a float32 embedding per row, compared by cosine in numpy (a layer's few thousand rows
need no vector index).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from babellens.autointerp.pipeline import ExplainedUnit
from babellens.autointerp.units import UnitRef
from babellens.errors import InvalidInputError
from babellens.store.database import Database
from babellens.store.schema import Base, utcnow

__all__ = ["ExplanationHit", "ExplanationRow", "ExplanationStore", "StoredExplanation"]

Embed = Callable[[Sequence[str]], np.ndarray]
"""Texts -> [n, dim] float32, rows L2-normalised."""


class ExplanationRow(Base):
    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(128))
    layer: Mapped[int] = mapped_column(Integer)
    unit_index: Mapped[int] = mapped_column(Integer)
    explainer: Mapped[str] = mapped_column(String(256))
    judge: Mapped[str] = mapped_column(String(256))
    prompt_version: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[str] = mapped_column(Text)
    detection: Mapped[float | None] = mapped_column(Float, nullable=True)
    detection_random: Mapped[float | None] = mapped_column(Float, nullable=True)
    fuzzing: Mapped[float | None] = mapped_column(Float, nullable=True)
    fuzzing_random: Mapped[float | None] = mapped_column(Float, nullable=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    embedder: Mapped[str | None] = mapped_column(String(256), nullable=True)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoredExplanation(BaseModel):
    id: int
    job_id: int
    model: str
    unit: UnitRef
    text: str
    explainer: str
    judge: str
    prompt_version: str
    detection: float | None
    detection_random: float | None = Field(description="Detection for another unit's explanation")
    fuzzing: float | None
    fuzzing_random: float | None = Field(description="Fuzzing for another unit's explanation")
    record: dict[str, Any] = Field(description="Scores with intervals and counts, examples used")


class ExplanationHit(BaseModel):
    explanation: StoredExplanation
    match: float = Field(
        description="bm25/ts_rank for full text (higher is better), cosine by meaning"
    )
    how: str = Field(description="'text' or 'meaning'")


def _scores(unit: ExplainedUnit) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in ("detection", "fuzzing"):
        found = [s for s in unit.scores if s.score.scorer == name]
        out[name] = found[0].score.value if found else None
        out[f"{name}_random"] = found[0].random.value if found and found[0].random else None
    return out


def _stored(row: ExplanationRow) -> StoredExplanation:
    return StoredExplanation(
        id=row.id,
        job_id=row.job_id,
        model=row.model,
        unit=UnitRef(source=row.source, layer=row.layer, index=row.unit_index),
        text=row.text,
        explainer=row.explainer,
        judge=row.judge,
        prompt_version=row.prompt_version,
        detection=row.detection,
        detection_random=row.detection_random,
        fuzzing=row.fuzzing,
        fuzzing_random=row.fuzzing_random,
        record=row.record,
    )


_WORD = re.compile(r"\w+", re.UNICODE)


class ExplanationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self, job_id: int, model: str, units: Sequence[ExplainedUnit], *, layer: int | None = None
    ) -> int:
        """Replace this job's explanations (only those of ``layer``, when given: a job over a
        dictionary set saves each member as it finishes) by ``units``; how many were written."""
        rows = [
            ExplanationRow(
                job_id=job_id,
                model=model,
                source=u.unit.source,
                layer=u.unit.layer,
                unit_index=u.unit.index,
                explainer=u.explainer,
                judge=u.judge,
                prompt_version=u.prompt_version,
                text=u.explanation,
                tokens=" ".join(t.strip() for t in u.top_tokens if t.strip()),
                record=u.model_dump(mode="json"),
                **_scores(u),
            )
            for u in units
        ]
        replaced = delete(ExplanationRow).where(ExplanationRow.job_id == job_id)
        if layer is not None:
            replaced = replaced.where(ExplanationRow.layer == layer)
        with self.db.session() as s:
            s.execute(replaced)
            s.add_all(rows)
        return len(rows)

    def of_job(self, job_id: int, layer: int) -> list[ExplainedUnit]:
        """What a job stored of ``layer`` (a set's member), in the order it was saved: a resumed
        job summarises the members an earlier process finished from these."""
        query = (
            select(ExplanationRow.record)
            .where(ExplanationRow.job_id == job_id, ExplanationRow.layer == layer)
            .order_by(ExplanationRow.id)
        )
        with self.db.session() as s:
            return [ExplainedUnit.model_validate(r) for r in s.scalars(query)]

    def for_unit(self, model: str, unit: UnitRef) -> list[StoredExplanation]:
        """The newest explanation of ``unit`` by each explainer, best detection first."""
        query = (
            select(ExplanationRow)
            .where(
                ExplanationRow.model == model,
                ExplanationRow.source == unit.source,
                ExplanationRow.layer == unit.layer,
                ExplanationRow.unit_index == unit.index,
            )
            .order_by(ExplanationRow.id.desc())
        )
        with self.db.session() as s:
            newest: dict[str, StoredExplanation] = {}
            for row in s.scalars(query):
                newest.setdefault(row.explainer, _stored(row))
        return sorted(newest.values(), key=lambda e: -(e.detection or 0.0))

    def for_layer(
        self, model: str, layer: int, source: str = "neuron"
    ) -> dict[int, StoredExplanation]:
        """Per unit index, its best-detection explanation among the newest of each explainer."""
        query = (
            select(ExplanationRow)
            .where(
                ExplanationRow.model == model,
                ExplanationRow.source == source,
                ExplanationRow.layer == layer,
            )
            .order_by(ExplanationRow.id.desc())
        )
        best: dict[int, StoredExplanation] = {}
        seen: set[tuple[int, str]] = set()
        with self.db.session() as s:
            for row in s.scalars(query):
                if (row.unit_index, row.explainer) in seen:
                    continue
                seen.add((row.unit_index, row.explainer))
                old = best.get(row.unit_index)
                if old is None or (row.detection or 0.0) > (old.detection or 0.0):
                    best[row.unit_index] = _stored(row)
        return best

    def models(self) -> list[str]:
        with self.db.session() as s:
            return sorted(set(s.scalars(select(ExplanationRow.model).distinct())))

    def count(self, model: str | None = None) -> int:
        query = select(ExplanationRow.id)
        if model is not None:
            query = query.where(ExplanationRow.model == model)
        with self.db.session() as s:
            return len(s.scalars(query).all())

    # ---- full text ---------------------------------------------------------------------------
    def search_text(self, model: str, query: str, limit: int = 20) -> list[ExplanationHit]:
        """Rows whose explanation or marked tokens hold every word of ``query``, best first."""
        words = _WORD.findall(query)
        if not words:
            raise InvalidInputError("the search has no words: write e.g. 'dates' or 'Paris'")
        if self.db.engine.dialect.name == "sqlite":
            match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
            sql = text(
                "SELECT e.id, -bm25(explanations_fts) AS rank FROM explanations_fts "
                "JOIN explanations e ON e.id = explanations_fts.rowid "
                "WHERE explanations_fts MATCH :q AND e.model = :model "
                "ORDER BY bm25(explanations_fts) LIMIT :limit"
            )
            params = {"q": match, "model": model, "limit": limit}
        else:
            doc = "to_tsvector('simple', coalesce(e.text, '') || ' ' || coalesce(e.tokens, ''))"
            sql = text(
                f"SELECT e.id, ts_rank({doc}, plainto_tsquery('simple', :q)) AS rank "
                f"FROM explanations e WHERE {doc} @@ plainto_tsquery('simple', :q) "
                "AND e.model = :model ORDER BY rank DESC, e.id LIMIT :limit"
            )
            params = {"q": " ".join(words), "model": model, "limit": limit}
        with self.db.session() as s:
            ranked = [(int(i), float(r)) for i, r in s.execute(sql, params)]
            rows = {
                r.id: r
                for r in s.scalars(
                    select(ExplanationRow).where(ExplanationRow.id.in_([i for i, _ in ranked]))
                )
            }
            return [
                ExplanationHit(explanation=_stored(rows[i]), match=round(r, 6), how="text")
                for i, r in ranked
            ]

    # ---- by meaning --------------------------------------------------------------------------
    def embed_missing(self, embedder_name: str, embed: Embed, model: str | None = None) -> int:
        """Embed every row not yet embedded by ``embedder_name``; returns how many."""
        query = select(ExplanationRow.id, ExplanationRow.text).where(
            (ExplanationRow.embedder.is_(None)) | (ExplanationRow.embedder != embedder_name)
        )
        if model is not None:
            query = query.where(ExplanationRow.model == model)
        with self.db.session() as s:
            todo = list(s.execute(query))
        for start in range(0, len(todo), 256):
            chunk = todo[start : start + 256]
            vectors = np.asarray(embed([t for _, t in chunk]), dtype=np.float32)
            with self.db.session() as s:
                for (row_id, _), vector in zip(chunk, vectors, strict=True):
                    s.execute(
                        update(ExplanationRow)
                        .where(ExplanationRow.id == row_id)
                        .values(embedder=embedder_name, embedding=vector.tobytes())
                    )
        return len(todo)

    def search_meaning(
        self, model: str, query: str, embedder_name: str, embed: Embed, limit: int = 20
    ) -> list[ExplanationHit]:
        """Rows by cosine between ``query`` and their explanation (embedding rows on demand)."""
        if not query.strip():
            raise InvalidInputError("the search is empty: write what the unit should respond to")
        self.embed_missing(embedder_name, embed, model)
        q = np.asarray(embed([query]), dtype=np.float32)[0]
        select_rows = select(ExplanationRow.id, ExplanationRow.embedding).where(
            ExplanationRow.model == model, ExplanationRow.embedder == embedder_name
        )
        with self.db.session() as s:
            found = [
                (i, np.frombuffer(b, dtype=np.float32)) for i, b in s.execute(select_rows) if b
            ]
            if not found:
                return []
            matrix = np.stack([v for _, v in found])
            sims = matrix @ q
            order = np.argsort(-sims, kind="stable")[:limit]
            ids = [found[i][0] for i in order]
            rows = {
                r.id: r for r in s.scalars(select(ExplanationRow).where(ExplanationRow.id.in_(ids)))
            }
            return [
                ExplanationHit(
                    explanation=_stored(rows[found[i][0]]),
                    match=round(float(sims[i]), 6),
                    how="meaning",
                )
                for i in order
            ]
