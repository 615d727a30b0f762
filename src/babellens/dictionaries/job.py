"""The ``dict_train`` job kind: train (resumable through the job's run control), evaluate, store."""

from __future__ import annotations

from typing import Any

from babellens.dictionaries.config import DictTrainParams
from babellens.dictionaries.pipeline import evaluate_on_corpus, metrics_summary, train
from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.registry import job_kind
from babellens.store.dictionaries import DictionaryStore

__all__ = ["run_dict_train"]


@job_kind("dict_train", params=DictTrainParams)
def run_dict_train(ctx: JobContext) -> dict[str, Any]:
    """Train a sparse dictionary (or a per-layer set) and store it with its held-out metrics."""
    params: DictTrainParams = ctx.params  # type: ignore[assignment]
    lm = cached_model(ctx.job.model)
    trained = train(lm, params, control=ctx)
    metrics: dict[str, Any] = {"train": trained.metrics, "steps": trained.steps}
    if params.eval_tokens:
        evals = evaluate_on_corpus(
            lm,
            trained.dictionaries,
            corpus=params.corpus,
            tokens=params.eval_tokens,
            window_len=params.window_len,
        )
        metrics |= metrics_summary(evals, params.corpus, "test")
    info = DictionaryStore(ctx.db).save(
        trained.dictionaries,
        model=ctx.job.model,
        source="trained",
        tokens_trained=trained.tokens_trained,
        corpus=params.corpus,
        seed=params.seed,
        provenance={"params": params.model_dump(mode="json"), "model_dtype": str(lm.dtype)},
        metrics=metrics,
        name=params.name,
        job_id=ctx.job.id,
    )
    evaluated = metrics.get("eval", {})
    return {
        "dictionary_id": info.id,
        "kind": info.kind,
        "members": len(info.members),
        "width": info.width,
        "tokens_trained": trained.tokens_trained,
        "fvu": evaluated.get("fvu"),
        "l0": evaluated.get("l0"),
        "ce_recovered_vs_zero": evaluated.get("ce_recovered_vs_zero"),
    }
