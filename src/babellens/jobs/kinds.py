"""The built-in job kinds: ``scan`` and ``next_token_neurons``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig, next_token_neurons
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows
from babellens.jobs.context import JobCancelled, JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.ray_scan import ray_scan
from babellens.jobs.registry import job_kind
from babellens.models.loading import load_tokenizer
from babellens.store.results import ResultStore

__all__ = ["SteeringEvalParams", "run_next_token_neurons", "run_scan", "run_steering_eval"]


@job_kind("scan")
def run_scan(ctx: JobContext) -> dict[str, Any]:
    config = ScanConfig(**ctx.job.params)
    split = None if config.split == "all" else config.split
    corpus = load_corpus(config.corpus, split=split)  # type: ignore[arg-type]
    if ctx.ray is not None:
        windows = make_windows(
            corpus,
            load_tokenizer(ctx.job.model),
            window_len=config.window_len,
            max_tokens=config.max_tokens,
        )
        sharded = ray_scan(
            ctx.job.model,
            windows,
            config,
            ctx.ray,
            progress=ctx.progress,
            cancelled=ctx.poll_cancelled,
        )
        accumulators, summary = sharded.accumulators, sharded.model_summary
        total_tokens, layers = sum(w.n_tokens for w in windows), sorted(accumulators)
        extra = {"shards": sharded.shards, "retries": sharded.retries}
    else:
        lm = cached_model(ctx.job.model)
        windows = make_windows(
            corpus, lm.tokenizer, window_len=config.window_len, max_tokens=config.max_tokens
        )
        scan = NeuronScan(lm, windows, config)
        blob = ctx.load_checkpoint()
        if blob:
            scan.load_state_dict(load_tensors(blob))

        def checkpoint(s: NeuronScan) -> None:
            ctx.save_checkpoint(save_tensors(s.state_dict()), s.tokens_done)

        finished = scan.run(progress=ctx.progress, should_stop=ctx.cancelled, checkpoint=checkpoint)
        if not finished:
            checkpoint(scan)
            raise JobCancelled
        accumulators, summary = scan.accumulators, _summary(lm)
        total_tokens, layers, extra = scan.total_tokens, scan.layers, {}
    results = ResultStore(ctx.db)
    results.clear_scan(ctx.job.id)
    used: set[int] = set()
    for layer, acc in accumulators.items():
        results.save_layer(ctx.job.id, layer, acc)
        used.update(int(w) for w in acc.top_windows.flatten().tolist() if w >= 0)
    results.save_windows(ctx.job.id, windows, corpus, used)
    return {
        "tokens": total_tokens,
        "windows": len(windows),
        "documents": len(corpus.documents),
        "layers": layers,
        "languages": corpus.languages,
        "model_summary": summary,
        "executor": "ray" if ctx.ray is not None else "local",
        **extra,
    }


@job_kind("next_token_neurons")
def run_next_token_neurons(ctx: JobContext) -> dict[str, Any]:
    config = NextTokenConfig(**ctx.job.params)
    lm = cached_model(ctx.job.model)
    neurons = next_token_neurons(lm, config, progress=ctx.progress)
    ResultStore(ctx.db).save_token_neurons(ctx.job.id, neurons)
    layers = sorted({n.layer for n in neurons})
    return {"layers": layers, "neurons": len(neurons), "model_summary": _summary(lm)}


class SteeringEvalParams(BaseModel):
    vector: str = Field("caps", description="Saved vector or concept name")
    metric: str = "uppercase_fraction"
    coefficients: list[float] = Field(
        default_factory=lambda: [-8.0, -4.0, 0.0, 4.0, 8.0], max_length=16
    )
    layers: list[int] | None = None
    prompts: int = Field(8, ge=1, le=60)
    lang: str = "en"
    max_new_tokens: int = Field(24, ge=1, le=256)


@job_kind("steering_eval")
def run_steering_eval(ctx: JobContext) -> dict[str, Any]:
    """Dose-response, layer sweep and costs of a vector; the report is the job's summary."""
    from babellens.steering import EvalConfig, evaluate
    from babellens.steering.library import eval_inputs, resolve_vector, steer_layers

    params = SteeringEvalParams(**ctx.job.params)
    lm = cached_model(ctx.job.model)
    vector = resolve_vector(lm, params.vector, params.layers)
    prompts, neutral = eval_inputs(lm, params.lang, params.prompts)
    layers = params.layers or steer_layers(vector, lm.adapter.n_layers)
    config = EvalConfig(
        coefficients=params.coefficients, layers=layers, max_new_tokens=params.max_new_tokens
    )

    def progress(done: int, total: int) -> None:
        ctx.progress(done, total)
        if ctx.cancelled():
            raise JobCancelled

    report = evaluate(
        lm, vector, prompts, params.metric, neutral=neutral, config=config, progress=progress
    )
    return report.model_dump(mode="json")


def _summary(lm: Any) -> dict[str, Any]:
    data = lm.summary().model_dump()
    data.pop("hook_points", None)
    return data


# Kinds that live with their analysis register on import.
from babellens.autointerp import job as _explain_job  # noqa: E402, F401
from babellens.crossling import job as _crossling_job  # noqa: E402, F401
from babellens.lookups import job as _lookups_job  # noqa: E402, F401
