"""The database schema. Results are keyed by the job that produced them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "JobRow",
    "NeuronStatRow",
    "ReportRow",
    "ScanWindowRow",
    "TokenNeuronRow",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    model: Mapped[str] = mapped_column(String(512), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    rate: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(256), nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    checkpoint_done: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ScanWindowRow(Base):
    __tablename__ = "scan_windows"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(256))
    lang: Mapped[str | None] = mapped_column(String(32), nullable=True)
    start: Mapped[int] = mapped_column(Integer)
    token_ids: Mapped[list[Any]] = mapped_column(JSON)


class NeuronStatRow(Base):
    __tablename__ = "neuron_stats"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    layer: Mapped[int] = mapped_column(Integer, primary_key=True)
    neuron: Mapped[int] = mapped_column(Integer, primary_key=True)
    max: Mapped[float] = mapped_column(Float)
    mean: Mapped[float] = mapped_column(Float)
    density: Mapped[float] = mapped_column(Float)
    hist: Mapped[list[Any]] = mapped_column(JSON)
    examples: Mapped[list[Any]] = mapped_column(JSON)
    example_acts: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_neuron_stats_layer_max", "job_id", "layer", "max"),)


class TokenNeuronRow(Base):
    __tablename__ = "token_neurons"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    layer: Mapped[int] = mapped_column(Integer, primary_key=True)
    neuron: Mapped[int] = mapped_column(Integer, primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    word_score: Mapped[float] = mapped_column(Float)
    word_token: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    promoted: Mapped[list[Any]] = mapped_column(JSON)
    suppressed: Mapped[list[Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_token_neurons_layer_word", "job_id", "layer", "word_score"),)


class ReportRow(Base):
    """A typed analysis report (a pydantic model), whole, as JSON with its kind and version.

    One table for every report kind that is written once and read whole (steering evaluations,
    cross-lingual and safety experiments, ...): the kind says which model reads it, the version
    lets a reader refuse a report it cannot read instead of misreading it.
    """

    __tablename__ = "reports"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(512), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
