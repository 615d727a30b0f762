"""The built-in job kinds: ``scan`` and ``next_token_neurons``."""

from __future__ import annotations

from typing import Any

from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig, next_token_neurons
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows
from babellens.jobs.context import JobCancelled, JobContext
from babellens.jobs.model_cache import cached_model
from babellens.jobs.registry import job_kind
from babellens.store.results import ResultStore

__all__ = ["run_next_token_neurons", "run_scan"]


@job_kind("scan")
def run_scan(ctx: JobContext) -> dict[str, Any]:
    config = ScanConfig(**ctx.job.params)
    lm = cached_model(ctx.job.model)
    split = None if config.split == "all" else config.split
    corpus = load_corpus(config.corpus, split=split)  # type: ignore[arg-type]
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
    results = ResultStore(ctx.db)
    results.clear_scan(ctx.job.id)
    used: set[int] = set()
    for layer, acc in scan.accumulators.items():
        results.save_layer(ctx.job.id, layer, acc)
        used.update(int(w) for w in acc.top_windows.flatten().tolist() if w >= 0)
    results.save_windows(ctx.job.id, windows, corpus, used)
    return {"tokens": scan.total_tokens, "windows": len(windows), "documents": len(corpus.documents),
            "layers": scan.layers, "languages": corpus.languages, "model_summary": _summary(lm)}  # fmt: skip


@job_kind("next_token_neurons")
def run_next_token_neurons(ctx: JobContext) -> dict[str, Any]:
    config = NextTokenConfig(**ctx.job.params)
    lm = cached_model(ctx.job.model)
    neurons = next_token_neurons(lm, config, progress=ctx.progress)
    ResultStore(ctx.db).save_token_neurons(ctx.job.id, neurons)
    layers = sorted({n.layer for n in neurons})
    return {"layers": layers, "neurons": len(neurons), "model_summary": _summary(lm)}


def _summary(lm: Any) -> dict[str, Any]:
    data = lm.summary().model_dump()
    data.pop("hook_points", None)
    return data
