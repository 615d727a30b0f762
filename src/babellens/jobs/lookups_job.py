"""The ``lookups`` job kind: the pipeline with progress, cancel and resume, its report stored.

The checkpoint is the pipeline's state (neurons, their prompts, the neurons done) as the JSON
metadata of a run-control checkpoint (no tensors), saved after the prompts and after every
neuron, so a resumed job starts at the neuron it was in.
"""

from __future__ import annotations

from typing import Any

from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.registry import job_kind
from babellens.lookups.config import LookupsConfig
from babellens.lookups.pipeline import run_lookups
from babellens.lookups.report import LookupsReport
from babellens.store.lookups import LookupsStore
from babellens.store.lookups_inputs import StoredLookupsInputs

__all__ = ["job_summary", "run_lookups_job"]


def job_summary(report: LookupsReport) -> dict[str, Any]:
    """The compact part of a report that job lists show."""
    return {
        "report_version": report.version,
        "explainer": report.explainer,
        "scorer": report.scorer,
        "layers": report.layers,
        "neurons": len(report.neurons),
        "groups": [g.model_dump(mode="json") for g in report.groups],
        "ablation": [a.model_dump(mode="json") for a in report.ablation],
        "timings": report.timings,
    }


@job_kind("lookups", params=LookupsConfig, web=False)
def run_lookups_job(ctx: JobContext) -> dict[str, Any]:
    """Context look-ups: which attention heads feed the next-token neurons, explained and scored."""
    config = ctx.params
    assert isinstance(config, LookupsConfig)
    lm = cached_model(ctx.job.model, dtype="float32")  # attribution gradients: float32
    report = run_lookups(
        lm,
        config,
        stored=StoredLookupsInputs(ctx.db),
        model=ctx.job.model,
        control=ctx,
        job_id=ctx.job.id,
    )
    LookupsStore(ctx.db).save(ctx.job.id, report)
    return job_summary(report)
