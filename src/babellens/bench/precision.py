"""``bench precision``: what bfloat16 buys (speed) and what it costs (changed results), one run.

1. Throughput: the decoder without the unembedding, the capture of every layer's ``mlp_post``
   reduced to a per-neuron max, and the full neuron scan, each in float32 and in bfloat16, over
   the same bundled-corpus batches, interleaved batch by batch (drift hits every method alike).
2. What the precision changes, on the same corpus slice: per neuron, the overlap of the top-k
   example windows of the float32 scan and the bfloat16 scan (beside the overlap two random
   k-sets of those windows would have), the maximum activation's relative change, and the
   density's change; for next-token neurons, the Spearman correlation and top-20 overlap of the
   neuron ranking per layer between a float32 and a bfloat16 model.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from pydantic import BaseModel

from babellens.analyses.neuron_scan.fused_stats import kernel_available
from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig, next_token_neurons
from babellens.bench.scan import repeated_windows
from babellens.bench.timing import sync_device
from babellens.capture.language_model import LanguageModel
from babellens.capture.reductions import max_over_positions
from babellens.data.windows import WindowBatch
from babellens.models.precision import dtype_name

__all__ = [
    "PrecisionBenchmark",
    "ScanAgreement",
    "TokenNeuronAgreement",
    "bench_precision",
    "scan_agreement",
    "spearman",
    "token_neuron_agreement",
]


class ScanAgreement(BaseModel):
    k: int
    windows: int
    neurons: int
    topk_overlap_mean: float
    topk_overlap_min: float
    topk_identical_fraction: float
    chance_overlap: float
    max_relative_change_median: float
    density_abs_change_mean: float


class TokenNeuronAgreement(BaseModel):
    layers: list[int]
    spearman_per_layer: dict[int, float]
    top20_overlap_per_layer: dict[int, float]
    top20_chance_overlap: float
    same_top_word_fraction: float


class PrecisionBenchmark(BaseModel):
    model: str
    device: str
    torch_threads: int
    tokens: int
    dtypes: list[str]
    tokens_per_s: dict[str, float]
    ratios: dict[str, float]
    scan: ScanAgreement
    next_token: TokenNeuronAgreement


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    sync_device(device)
    start = time.perf_counter()
    fn()
    sync_device(device)
    return time.perf_counter() - start


def _methods(lm: LanguageModel, scan: NeuronScan) -> dict[str, Callable[[WindowBatch], object]]:
    decoder = lm.adapter.decoder
    points = [f"mlp_post.{layer}" for layer in range(lm.adapter.n_layers)]

    def forward(batch: WindowBatch) -> object:
        with torch.inference_mode():
            return decoder(
                input_ids=batch.input_ids.to(lm.device),
                attention_mask=batch.attention_mask.to(lm.device),
                use_cache=False,
            )

    def capture(batch: WindowBatch) -> object:
        enc = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        return lm.run(enc, capture=points, reduce=max_over_positions)

    methods = {"forward_no_unembed": forward, "capture_mlp_post_max": capture, "scan": scan.step}
    if kernel_available() and lm.device.type == "cpu":  # the in-run baseline of the compiled pass
        tensor_ops = NeuronScan(lm, scan.windows, scan.config, stats="torch")
        methods["scan_tensor_ops"] = tensor_ops.step
    return methods


def throughput(
    models: dict[str, LanguageModel], tokens: int, config: ScanConfig
) -> tuple[dict[str, float], dict[str, NeuronScan]]:
    """tokens/s per ``{dtype}.{method}``, and each dtype's finished scan (same windows)."""
    first = next(iter(models.values()))
    windows = repeated_windows(first, tokens, config.window_len)
    scans = {name: NeuronScan(lm, windows, config) for name, lm in models.items()}
    methods = {
        f"{name}.{method}": (lm, fn)
        for name, lm in models.items()
        for method, fn in _methods(lm, scans[name]).items()
    }
    spent = dict.fromkeys(methods, 0.0)
    counted = 0
    for i, batch in enumerate(scans[next(iter(models))].batches()):
        for key, (lm, fn) in methods.items():
            seconds = _timed(lambda fn=fn, batch=batch: fn(batch), lm.device)
            if i > 0:  # the first batch warms every method up
                spent[key] += seconds
        if i > 0:
            counted += int(batch.attention_mask.sum())
    return {key: round(counted / s, 1) for key, s in spent.items()}, scans


def scan_agreement(a: NeuronScan, b: NeuronScan) -> ScanAgreement:
    """How far two scans of the same windows agree: top-k window sets, max, density."""
    overlaps, max_changes, density_changes = [], [], []
    k = a.config.k
    for layer, acc_a in a.accumulators.items():
        acc_b = b.accumulators[layer]
        wa, wb = acc_a.top_windows, acc_b.top_windows
        hits = (wa.unsqueeze(2) == wb.unsqueeze(1)) & (wa >= 0).unsqueeze(2)
        kept = (wa >= 0).sum(1).clamp_min(1)
        overlaps.append(hits.any(2).sum(1).double() / kept)
        scale = acc_a.act_max.double().abs().clamp_min(1e-6)
        max_changes.append((acc_b.act_max.double() - acc_a.act_max.double()).abs() / scale)
        density_changes.append((acc_b.density - acc_a.density).abs())
    overlap = torch.cat(overlaps)
    return ScanAgreement(
        k=k,
        windows=len(a.windows),
        neurons=int(overlap.numel()),
        topk_overlap_mean=round(float(overlap.mean()), 4),
        topk_overlap_min=round(float(overlap.min()), 4),
        topk_identical_fraction=round(float((overlap == 1).double().mean()), 4),
        chance_overlap=round(k / len(a.windows), 4),
        max_relative_change_median=float(f"{float(torch.cat(max_changes).median()):.3g}"),
        density_abs_change_mean=float(f"{float(torch.cat(density_changes).mean()):.3g}"),
    )


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Rank correlation (ties broken by position: the congruence scores are continuous)."""
    rx = x.double().argsort().argsort().double()
    ry = y.double().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([rx, ry]))[0, 1])


def token_neuron_agreement(
    reference: LanguageModel, other: LanguageModel, layers: list[int], top: int = 20
) -> TokenNeuronAgreement:
    config = NextTokenConfig(layers=layers, top_tokens=1)
    ref, oth = next_token_neurons(reference, config), next_token_neurons(other, config)
    rho, overlap = {}, {}
    for layer in layers:
        a = torch.tensor([n.word_score for n in ref if n.layer == layer])
        b = torch.tensor([n.word_score for n in oth if n.layer == layer])
        rho[layer] = round(spearman(a, b), 4)
        top_a = set(a.topk(top).indices.tolist())
        overlap[layer] = round(len(top_a & set(b.topk(top).indices.tolist())) / top, 3)
    same_word = sum(
        (x.word_token and y.word_token and x.word_token.token_id == y.word_token.token_id) or False
        for x, y in zip(ref, oth, strict=True)
    )
    return TokenNeuronAgreement(
        layers=layers,
        spearman_per_layer=rho,
        top20_overlap_per_layer=overlap,
        top20_chance_overlap=round(top / reference.adapter.d_mlp, 4),
        same_top_word_fraction=round(same_word / len(ref), 4),
    )


def bench_precision(
    fp32: LanguageModel, bf16: LanguageModel, *, tokens: int = 8192
) -> PrecisionBenchmark:
    """``fp32`` and ``bf16``: the same model loaded in float32 and in bfloat16."""
    models = {dtype_name(fp32.dtype): fp32, dtype_name(bf16.dtype): bf16}
    a, b = models
    rates, scans = throughput(models, tokens, ScanConfig())
    ratios = {
        f"{b}.scan / {a}.scan": rates[f"{b}.scan"] / rates[f"{a}.scan"],
        f"{b}.scan / {b}.forward_no_unembed": rates[f"{b}.scan"] / rates[f"{b}.forward_no_unembed"],
        f"{a}.scan / {a}.forward_no_unembed": rates[f"{a}.scan"] / rates[f"{a}.forward_no_unembed"],
        f"{b}.forward_no_unembed / {a}.forward_no_unembed": rates[f"{b}.forward_no_unembed"]
        / rates[f"{a}.forward_no_unembed"],
        f"{b}.capture_mlp_post_max / {b}.forward_no_unembed": rates[f"{b}.capture_mlp_post_max"]
        / rates[f"{b}.forward_no_unembed"],
    }
    for name in (a, b):
        if f"{name}.scan_tensor_ops" in rates:
            ratios[f"{name}.scan_tensor_ops / {name}.forward_no_unembed"] = (
                rates[f"{name}.scan_tensor_ops"] / rates[f"{name}.forward_no_unembed"]
            )
    n = fp32.adapter.n_layers
    last_quarter = list(range(n - max(1, n // 4), n))
    return PrecisionBenchmark(
        model=fp32.name,
        device=str(fp32.device),
        torch_threads=torch.get_num_threads(),
        tokens=tokens,
        dtypes=[a, b],
        tokens_per_s=rates,
        ratios={k: round(v, 3) for k, v in ratios.items()},
        scan=scan_agreement(scans[a], scans[b]),
        next_token=token_neuron_agreement(fp32, bf16, last_quarter),
    )
