"""Adapters trained by experiments, found by id through the store.

An experiment job records its adapters (one peft folder of safetensors per training language) in
its stored report; the id ``crossling-JOB-LANG`` names one. Loading merges it into the base
model, so every hook point, steering and scan works on the fine-tuned model as on any other.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from babellens.crossling.lora import load_with_adapter
from babellens.errors import InvalidInputError
from babellens.models.language_model import LanguageModel
from babellens.store import Database, Job, JobStore

__all__ = ["AdapterInfo", "get_adapter", "list_adapters", "load_adapter"]

_ID = re.compile(r"^crossling-(\d+)-([a-z]{2,3})$")


class AdapterInfo(BaseModel):
    id: str = Field(description="crossling-JOB-LANG")
    model: str = Field(description="The base model it was trained on")
    lang: str
    behaviour: str
    job_id: int
    path: str
    steps: int
    final_loss: float | None


def _from_job(job: Job, lang: str) -> AdapterInfo:
    losses = job.summary.get("losses", {}).get(lang, [])
    return AdapterInfo(
        id=f"crossling-{job.id}-{lang}",
        model=job.model,
        lang=lang,
        behaviour=job.summary["config"]["behaviour"],
        job_id=job.id,
        path=job.summary["adapters"][lang],
        steps=len(losses),
        final_loss=losses[-1] if losses else None,
    )


def list_adapters(db: Database, model: str | None = None) -> list[AdapterInfo]:
    """Every adapter of every finished experiment (of ``model``), newest first."""
    jobs = JobStore(db).list(kind="crossling", status="done", limit=1000)
    return [
        _from_job(j, lang)
        for j in jobs
        if model in (None, j.model)
        for lang in j.summary.get("adapters", {})
    ]


def get_adapter(db: Database, adapter_id: str) -> AdapterInfo:
    match = _ID.match(adapter_id)
    if not match:
        raise InvalidInputError(
            f"adapter ids look like crossling-JOB-LANG, not {adapter_id!r}: see `babellens crossling adapters`"
        )
    try:
        job = JobStore(db).get(int(match[1]))
    except InvalidInputError:
        raise InvalidInputError(
            f"no adapter {adapter_id}: see `babellens crossling adapters`"
        ) from None
    if (
        job.kind != "crossling"
        or job.status != "done"
        or match[2] not in job.summary.get("adapters", {})
    ):
        raise InvalidInputError(f"no adapter {adapter_id}: see `babellens crossling adapters`")
    return _from_job(job, match[2])


def load_adapter(db: Database, adapter_id: str, device: str = "cpu") -> LanguageModel:
    """The base model with the adapter merged in."""
    info = get_adapter(db, adapter_id)
    if not Path(info.path).is_dir():
        raise InvalidInputError(
            f"adapter {adapter_id}'s folder {info.path} is gone: run the experiment again"
        )
    lm = load_with_adapter(info.model, info.path, device=device)
    lm.name = f"{info.model}+{adapter_id}"
    return lm
