"""Job kinds ``dict_train`` (train resumably, evaluate, store) and ``dict_scan`` (feature scan)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from pydantic import Field

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.capture.language_model import LanguageModel
from babellens.control import Checkpoint
from babellens.data.corpus import load_corpus
from babellens.data.windows import Window, make_windows
from babellens.dictionaries.config import DictTrainParams
from babellens.dictionaries.features import MemberTokens, all_feature_tokens, check_model_width
from babellens.dictionaries.model import SparseDictionary
from babellens.dictionaries.pipeline import evaluate_on_corpus, metrics_summary, train
from babellens.dictionaries.scan import scan_features
from babellens.dictionaries.training import TrainedDictionaries
from babellens.jobs.context import JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.ray_fanout import local_control
from babellens.jobs.ray_feature_scan import ray_feature_scan
from babellens.jobs.ray_harvest import RayHarvester
from babellens.jobs.registry import JobParams, job_kind
from babellens.jobs.scan_results import save_scan
from babellens.models.precision import dtype_name
from babellens.store.dictionaries import DictionaryStore
from babellens.store.reports import Report, ReportStore

__all__ = [
    "LIVE_METRICS",
    "DictScanParams",
    "FeatureTokensReport",
    "run_dict_scan",
    "run_dict_train",
]


LIVE_METRICS: dict[int, str] = {}
"""The latest training metrics line per running job id (for a progress bar in the same process)."""


@dataclass
class _WithLiveMetrics:
    """The job's control, keeping the metrics line that the job record has no field for."""

    ctx: JobContext

    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None:
        if message:
            LIVE_METRICS[self.ctx.job.id] = message
        self.ctx.progress(done, total, unit, message)

    def should_stop(self) -> bool:
        return self.ctx.should_stop()

    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        self.ctx.save_state(tensors, meta, done)

    def load_state(self) -> Checkpoint | None:
        return self.ctx.load_state()


@job_kind("dict_train", params=DictTrainParams)
def run_dict_train(ctx: JobContext) -> dict[str, Any]:
    """Train a sparse dictionary (or a per-layer set) and store it with its held-out metrics."""
    params: DictTrainParams = ctx.params  # type: ignore[assignment]
    lm = cached_model(ctx.job.model)
    trained = _train(ctx, lm, params)
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
        "last_training_metrics": LIVE_METRICS.pop(ctx.job.id, ""),
        "executor": "ray" if ctx.ray is not None else "local",
    }


def _train(ctx: JobContext, lm: LanguageModel, params: DictTrainParams) -> TrainedDictionaries:
    """Here, or with the harvest on Ray actors (the trainer stays here); the same checkpoint."""
    control = _WithLiveMetrics(ctx)
    if ctx.ray is None:
        return train(lm, params, control=control)
    device = "cuda" if ctx.ray.gpus_per_worker > 0 else "cpu"
    with RayHarvester(ctx.job.model, ctx.ray, dtype=dtype_name(lm.dtype), device=device) as ray:
        return train(lm, params, control=control, harvester=ray)


class FeatureTokensReport(Report):
    """Promoted and suppressed tokens of every feature, computed once when a dictionary is scanned."""

    report_kind: ClassVar[str] = "dictionary_feature_tokens"
    report_version: ClassVar[int] = 1
    dictionary_id: int
    members: list[MemberTokens]


class DictScanParams(JobParams):
    dictionary_id: int = Field(ge=1, description="The stored dictionary (or set) to scan")
    corpus: str = Field("babel-mini", description="Bundled corpus name, file, folder or hf:NAME")
    split: str = Field("train", pattern="^(train|test|all)$", description="train, test or all")
    k: int = Field(20, ge=1, le=1000, description="Top examples kept per feature")
    window_len: int = Field(128, ge=2, le=8192)
    tokens_per_batch: int = Field(2048, ge=2, le=1_000_000, description="Tokens per forward pass")
    max_tokens: int | None = Field(None, ge=1, description="Stop after this many corpus tokens")
    checkpoint_every_s: float = Field(60.0, ge=0, description="Seconds between saved states")


@job_kind("dict_scan", params=DictScanParams)
def run_dict_scan(ctx: JobContext) -> dict[str, Any]:
    """Scan a dictionary's features like neurons: top-k contexts, histogram, density."""
    params: DictScanParams = ctx.params  # type: ignore[assignment]
    store = DictionaryStore(ctx.db)
    info = store.get(params.dictionary_id)
    lm = cached_model(ctx.job.model)
    members = store.load(info.id)
    for sd in members:
        check_model_width(sd, lm)
    split = None if params.split == "all" else params.split
    corpus = load_corpus(params.corpus, split=split)  # type: ignore[arg-type]
    windows = make_windows(
        corpus, lm.tokenizer, window_len=params.window_len, max_tokens=params.max_tokens
    )
    accs = _scan(ctx, params, members, windows)
    save_scan(ctx.db, ctx.job.id, dict(enumerate(accs)), windows, corpus)
    tokens = FeatureTokensReport(
        dictionary_id=info.id, members=[all_feature_tokens(lm, sd) for sd in members]
    )
    ReportStore(ctx.db).save(ctx.job.id, tokens, model=ctx.job.model)
    store.set_metrics(info.id, {"scan": {"job_id": ctx.job.id, "corpus": params.corpus}})
    return {
        "dictionary_id": info.id,
        "members": len(members),
        "tokens": sum(w.n_tokens for w in windows),
        "windows": len(windows),
        "executor": "ray" if ctx.ray is not None else "local",
    }


def _scan(
    ctx: JobContext,
    params: DictScanParams,
    members: list[SparseDictionary],
    windows: list[Window],
) -> list[LayerAccumulator]:
    """Here, resumable at batch boundaries; or sharded over Ray actors (resumable per shard)."""
    if ctx.ray is not None:
        return ray_feature_scan(
            ctx.job.model,
            members,
            windows,
            k=params.k,
            window_len=params.window_len,
            tokens_per_batch=params.tokens_per_batch,
            options=replace(ctx.ray, checkpoint_every_s=params.checkpoint_every_s),
            control=ctx,
        )
    return scan_features(
        cached_model(ctx.job.model),
        members,
        windows,
        k=params.k,
        window_len=params.window_len,
        tokens_per_batch=params.tokens_per_batch,
        checkpoint_every_s=params.checkpoint_every_s,
        control=local_control(ctx),
    )
