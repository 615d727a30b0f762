"""Adapters trained by experiments, found by id through the store.

An experiment job records its adapters (one peft folder of safetensors per training language) in
its stored report (the report store's ``crossling`` kind); the id ``crossling-JOB-LANG`` names one. Loading merges it into the base
model, so every hook point, steering and scan works on the fine-tuned model as on any other.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from babellens.capture.language_model import LanguageModel
from babellens.crossling.lora import load_with_adapter
from babellens.crossling.report import ExperimentReport
from babellens.errors import InvalidInputError, NotFoundError
from babellens.store import Database, JobStore, ReportStore

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


def _info(report: ExperimentReport, job_id: int, lang: str) -> AdapterInfo:
    losses = report.losses.get(lang, [])
    return AdapterInfo(
        id=f"crossling-{job_id}-{lang}",
        model=report.model,
        lang=lang,
        behaviour=report.config.behaviour,
        job_id=job_id,
        path=report.adapters[lang],
        steps=len(losses),
        final_loss=losses[-1] if losses else None,
    )


def list_adapters(db: Database, model: str | None = None) -> list[AdapterInfo]:
    """Every adapter of every finished experiment (of ``model``), newest first."""
    store = ReportStore(db)
    done = {j.id for j in JobStore(db).list(kind="crossling", status="done", limit=1000)}
    found = []
    for listing in store.list(ExperimentReport.report_kind, model=model):
        if listing.job_id not in done or listing.version != ExperimentReport.report_version:
            continue
        report = store.get(listing.job_id, ExperimentReport)
        found.extend(_info(report, listing.job_id, lang) for lang in report.adapters)
    return found


def get_adapter(db: Database, adapter_id: str) -> AdapterInfo:
    match = _ID.match(adapter_id)
    if not match:
        raise InvalidInputError(
            f"adapter ids look like crossling-JOB-LANG, not {adapter_id!r}: see `babellens crossling adapters`"
        )
    job_id, lang = int(match[1]), match[2]
    missing = InvalidInputError(f"no adapter {adapter_id}: see `babellens crossling adapters`")
    try:
        job = JobStore(db).get(job_id)
    except InvalidInputError:
        raise missing from None
    if job.kind != "crossling" or job.status != "done":
        raise missing
    try:
        report = ReportStore(db).get(job_id, ExperimentReport)
    except NotFoundError:
        raise missing from None
    if lang not in report.adapters:
        raise missing
    return _info(report, job_id, lang)


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
