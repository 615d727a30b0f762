"""The built-in job kinds: ``scan``, ``next_token_neurons`` and ``steering_eval``.

Other kinds (``crossling``, ``lookups``, ...) register in a module of their own in this package,
imported here, so that asking the registry for kinds always sees all of them. Job modules live
in ``jobs/`` because they read and write the store: the analyses below them never do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from pydantic import Field

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.analyses.neuron_scan.experts import ExpertLayerAccumulator
from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig, next_token_neurons
from babellens.data.corpus import Corpus, load_corpus
from babellens.data.windows import Window, make_windows
from babellens.jobs import crossling_job as _crossling_job  # noqa: F401 - registers its kind
from babellens.jobs import dictionary_jobs as _dictionary_jobs  # noqa: F401 - registers its kinds
from babellens.jobs import explain_job as _explain_job  # noqa: F401 - registers its kind
from babellens.jobs import graph_job as _graph_job  # noqa: F401 - registers its kind
from babellens.jobs import lookups_job as _lookups_job  # noqa: F401 - registers its kind
from babellens.jobs import safety_job as _safety_job  # noqa: F401 - registers its kind
from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.ray_fanout import local_control
from babellens.jobs.ray_scan import ray_scan
from babellens.jobs.registry import JobParams, job_kind
from babellens.jobs.scan_results import save_scan
from babellens.models.loading import load_tokenizer
from babellens.store.reports import ReportStore
from babellens.store.results import ResultStore

__all__ = [
    "DEFAULT_STEERING_COEFFICIENTS",
    "SteeringEvalParams",
    "run_next_token_neurons",
    "run_scan",
    "run_steering_eval",
]


@job_kind("scan", params=ScanConfig)
def run_scan(ctx: JobContext) -> dict[str, Any]:
    """Per neuron of every layer: top-k contexts, histogram and density over a corpus."""
    config = ctx.params
    assert isinstance(config, ScanConfig)
    split = None if config.split == "all" else config.split
    corpus = load_corpus(config.corpus, split=split)  # type: ignore[arg-type]
    scanned = (
        _scan_on_ray(ctx, config, corpus)
        if ctx.ray is not None
        else _scan_here(ctx, config, corpus)
    )
    save_scan(ctx.db, ctx.job.id, scanned.accumulators, scanned.windows, corpus)
    return {
        "tokens": sum(w.n_tokens for w in scanned.windows),
        "windows": len(scanned.windows),
        "documents": len(corpus.documents),
        "layers": sorted(scanned.accumulators),
        "languages": corpus.languages,
        "model_summary": scanned.model_summary,
        "executor": "ray" if ctx.ray is not None else "local",
        "expert_layers": {  # [n_experts, d_expert, d_shared]: see analyses/neuron_scan/experts
            str(layer): [acc.n_experts, acc.d_expert, acc.d_shared]
            for layer, acc in scanned.accumulators.items()
            if isinstance(acc, ExpertLayerAccumulator)
        },
        **scanned.extra,
    }


@dataclass
class _Scanned:
    windows: list[Window]
    accumulators: dict[int, LayerAccumulator | ExpertLayerAccumulator]
    model_summary: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _scan_here(ctx: JobContext, config: ScanConfig, corpus: Corpus) -> _Scanned:
    """In this process, from the last checkpoint (the scan's state dict, saved through the job's
    run control) to the end, or to a cancel, which saves the state once more."""
    lm = cached_model(ctx.job.model, dtype=config.dtype)
    windows = make_windows(
        corpus, lm.tokenizer, window_len=config.window_len, max_tokens=config.max_tokens
    )
    scan = NeuronScan(lm, windows, config)
    scan.run(local_control(ctx))  # resumes from the job's checkpoint; a cancel saves and raises
    return _Scanned(list(windows), scan.accumulators, _summary(lm))


def _scan_on_ray(ctx: JobContext, config: ScanConfig, corpus: Corpus) -> _Scanned:
    """Sharded over Ray actors; finished shards are checkpointed as often as a local scan saves."""
    assert ctx.ray is not None
    windows = make_windows(
        corpus,
        load_tokenizer(ctx.job.model),
        window_len=config.window_len,
        max_tokens=config.max_tokens,
    )
    options = replace(ctx.ray, checkpoint_every_s=config.checkpoint_every_s)
    sharded = ray_scan(ctx.job.model, windows, config, options, control=ctx)
    extra = {"shards": sharded.shards, "retries": sharded.retries}
    return _Scanned(list(windows), sharded.accumulators, sharded.model_summary, extra)


@job_kind("next_token_neurons", params=NextTokenConfig)
def run_next_token_neurons(ctx: JobContext) -> dict[str, Any]:
    """Neurons whose output direction points at one token's unembedding (congruence)."""
    config = ctx.params
    assert isinstance(config, NextTokenConfig)
    lm = cached_model(ctx.job.model, dtype=config.dtype)
    neurons = next_token_neurons(lm, config, progress=ctx.progress)
    ResultStore(ctx.db).save_token_neurons(ctx.job.id, neurons)
    layers = sorted({n.layer for n in neurons})
    return {"layers": layers, "neurons": len(neurons), "model_summary": _summary(lm)}


DEFAULT_STEERING_COEFFICIENTS = [-2.0, -1.0, 0.0, 0.5, 1.0, 1.5, 2.0]
"""A coefficient of 1 adds one mean difference: -2..2 spans off, reversed and doubled."""


class SteeringEvalParams(JobParams):
    vector: str = Field(
        "caps", min_length=1, max_length=120, description="Saved vector or concept name"
    )
    metric: str = Field(
        "uppercase_fraction",
        max_length=200,
        description="uppercase_fraction, language:LANG or token_probability:TOK|TOK",
    )
    coefficients: list[Annotated[float, Field(gt=-1e6, lt=1e6)]] = Field(
        default_factory=lambda: list(DEFAULT_STEERING_COEFFICIENTS),
        min_length=1,
        max_length=16,
        description="Coefficients of the dose-response curve",
    )
    layers: list[int] | None = Field(None, max_length=64, description="Default: the vector's")
    prompts: int = Field(8, ge=1, le=60, description="Held-out prompts per coefficient")
    lang: str = Field("en", max_length=16, description="Language of the held-out prompts")
    max_new_tokens: int = Field(24, ge=1, le=256)


@job_kind("steering_eval", params=SteeringEvalParams)
def run_steering_eval(ctx: JobContext) -> dict[str, Any]:
    """Dose-response, layer sweep and costs of a steering vector against a random control."""
    from babellens.steering import EvalConfig, evaluate
    from babellens.steering.library import eval_inputs, resolve_vector, steer_layers

    params = ctx.params
    assert isinstance(params, SteeringEvalParams)
    lm = cached_model(ctx.job.model)
    vector = resolve_vector(lm, params.vector, params.layers)
    prompts, neutral = eval_inputs(lm, params.lang, params.prompts)
    layers = params.layers or steer_layers(vector, lm.adapter.n_layers)
    config = EvalConfig(
        coefficients=params.coefficients, layers=layers, max_new_tokens=params.max_new_tokens
    )
    report = evaluate(
        lm, vector, prompts, params.metric, neutral=neutral, config=config, control=ctx
    )
    ReportStore(ctx.db).save(ctx.job.id, report, model=ctx.job.model)
    return {
        "vector": report.vector.name,
        "metric": report.metric,
        "prompts": report.prompts,
        "coefficients": [p.coefficient for p in report.dose_response],
    }


def _summary(lm: Any) -> dict[str, Any]:
    data = lm.summary().model_dump()
    data.pop("hook_points", None)
    return data
