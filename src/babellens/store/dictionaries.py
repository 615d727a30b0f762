"""Stored dictionaries: a row of provenance and metrics, the weights as safetensors files.

A row is one dictionary or one *set* (per-layer dictionaries trained together, e.g. a transcoder
for every layer), with one id either way; its members are files under
``$BABELLENS_HOME/dictionaries/<id>/``, one per member, named by the member's input hook point.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from babellens.dictionaries.model import SparseDictionary
from babellens.dictionaries.native import load_native, save_native
from babellens.errors import InvalidInputError, NotFoundError
from babellens.paths import babellens_home
from babellens.store.database import Database
from babellens.store.schema import Base, NeuronStatRow, utcnow

__all__ = ["DictionaryInfo", "DictionaryRow", "DictionaryStore", "FeatureRow", "dictionaries_dir"]


def dictionaries_dir() -> Path:
    path = babellens_home() / "dictionaries"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _database_key(db: Database) -> str:
    """A short name for one database: row ids restart in every database, so weights saved by
    two databases under one home would share ``dictionaries/1`` without it."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        name = f"sqlite:{Path(url.database).expanduser().resolve()}"
    else:
        name = url.render_as_string(hide_password=True)
    return hashlib.sha256(name.encode()).hexdigest()[:12]


class DictionaryRow(Base):
    __tablename__ = "dictionaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str] = mapped_column(String(512), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    activation: Mapped[str] = mapped_column(String(16))
    hook_in: Mapped[str] = mapped_column(String(64))
    hook_out: Mapped[str] = mapped_column(String(64))
    members: Mapped[list[Any]] = mapped_column(JSON)
    d_in: Mapped[int] = mapped_column(Integer)
    d_out: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    k: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_trained: Mapped[int] = mapped_column(BigInteger, default=0)
    corpus: Mapped[str | None] = mapped_column(String(512), nullable=True)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DictionaryInfo(BaseModel):
    """What ``dict list`` shows and what a reader needs to find a dictionary's members."""

    id: int
    job_id: int | None
    name: str | None
    model: str
    kind: str
    activation: str
    hook_in: str
    hook_out: str
    members: list[tuple[str, str]]
    d_in: int
    d_out: int
    width: int
    k: int | None
    tokens_trained: int
    corpus: str | None
    seed: int | None
    source: str
    provenance: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime

    @property
    def is_set(self) -> bool:
        return len(self.members) > 1


class FeatureRow(BaseModel):
    index: int
    max: float
    mean: float
    density: float


def _info(row: DictionaryRow) -> DictionaryInfo:
    data = {c: getattr(row, c) for c in DictionaryInfo.model_fields}
    data["members"] = [tuple(m) for m in row.members]
    return DictionaryInfo.model_validate(data)


def _member_file(root: Path, hook_in: str) -> Path:
    return root / f"{hook_in}.safetensors"


class DictionaryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(
        self,
        dictionaries: list[SparseDictionary],
        *,
        model: str,
        source: str,
        tokens_trained: int = 0,
        corpus: str | None = None,
        seed: int | None = None,
        provenance: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        name: str | None = None,
        job_id: int | None = None,
    ) -> DictionaryInfo:
        """Store one dictionary, or several (a set) under one id, with their provenance."""
        if not dictionaries:
            raise InvalidInputError("nothing to store: no dictionaries given")
        first = dictionaries[0]
        single = len(dictionaries) == 1
        row = DictionaryRow(
            job_id=job_id,
            name=name,
            model=model,
            kind=first.kind,
            activation=first.activation,
            hook_in=first.hook_in if single else first.hook_in.split(".")[0] + ".*",
            hook_out=first.hook_out if single else first.hook_out.split(".")[0] + ".*",
            members=[[sd.hook_in, sd.hook_out] for sd in dictionaries],
            d_in=first.d_in,
            d_out=first.d_out,
            width=first.width,
            k=first.k,
            tokens_trained=tokens_trained,
            corpus=corpus,
            seed=seed,
            source=source,
            provenance=provenance or {},
            metrics=metrics or {},
        )
        with self.db.session() as s:
            s.add(row)
            s.flush()
            dict_id = row.id
        root = self._root(dict_id)
        for sd in dictionaries:
            save_native(sd, _member_file(root, sd.hook_in), {"model": model, "id": dict_id})
        return self.get(dict_id)

    def get(self, dict_id: int) -> DictionaryInfo:
        with self.db.session() as s:
            row = s.get(DictionaryRow, dict_id)
            if row is None:
                raise NotFoundError(
                    f"no dictionary {dict_id}: `babellens dict list` shows the stored ones"
                )
            return _info(row)

    def list(self, model: str | None = None, kind: str | None = None) -> list[DictionaryInfo]:
        query = select(DictionaryRow).order_by(DictionaryRow.id.desc())
        if model is not None:
            query = query.where(DictionaryRow.model == model)
        if kind is not None:
            query = query.where(DictionaryRow.kind == kind)
        with self.db.session() as s:
            return [_info(r) for r in s.scalars(query)]

    def load(self, dict_id: int, member: str | None = None) -> list[SparseDictionary]:
        """The members (all, or the one whose hook_in or hook_out is ``member``), float32, CPU."""
        info = self.get(dict_id)
        pairs = info.members
        if member is not None:
            pairs = [p for p in pairs if member in p]
            if not pairs:
                names = ", ".join(p[0] for p in info.members[:8])
                raise NotFoundError(
                    f"dictionary {dict_id} has no member {member!r} (it has {names})"
                )
        root = self._root(dict_id)
        if not root.exists() and (dictionaries_dir() / str(dict_id)).exists():
            root = dictionaries_dir() / str(dict_id)  # saved before weights had a database key
        return [load_native(_member_file(root, hook_in))[0] for hook_in, _ in pairs]

    def feature_rows(
        self,
        scan_job: int,
        member: int,
        *,
        sort: str = "max",
        descending: bool = True,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[FeatureRow], int]:
        """One page of a scanned member's features (a layer-style table) and how many there are."""
        columns = {
            "max": NeuronStatRow.max,
            "mean": NeuronStatRow.mean,
            "density": NeuronStatRow.density,
            "feature": NeuronStatRow.neuron,
        }
        if sort not in columns:
            raise InvalidInputError(f"sort by one of {', '.join(columns)}, not {sort!r}")
        column = columns[sort]
        where = (NeuronStatRow.job_id == scan_job, NeuronStatRow.layer == member)
        query = (
            select(
                NeuronStatRow.neuron, NeuronStatRow.max, NeuronStatRow.mean, NeuronStatRow.density
            )
            .where(*where)
            .order_by(column.desc() if descending else column.asc(), NeuronStatRow.neuron)
            .offset(offset)
            .limit(limit)
        )
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(NeuronStatRow).where(*where)) or 0
            rows = [
                FeatureRow(index=n, max=mx, mean=mean, density=density)
                for n, mx, mean, density in s.execute(query)
            ]
        return rows, int(total)

    def set_metrics(self, dict_id: int, metrics: dict[str, Any]) -> None:
        with self.db.session() as s:
            row = s.get(DictionaryRow, dict_id)
            if row is None:
                raise NotFoundError(f"no dictionary {dict_id}")
            row.metrics = {**(row.metrics or {}), **metrics}

    def delete(self, dict_id: int) -> None:
        with self.db.session() as s:
            row = s.get(DictionaryRow, dict_id)
            if row is not None:
                s.delete(row)
        shutil.rmtree(self._root(dict_id), ignore_errors=True)

    def _root(self, dict_id: int) -> Path:
        return dictionaries_dir() / _database_key(self.db) / str(dict_id)
