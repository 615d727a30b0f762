"""``babellens bench scan``: scan throughput, memory growth with corpus size, congruence cost.

1. Throughput: the scan (every neuron of every layer, k=20, histograms) and the HF decoder without
   the unembedding, interleaved batch by batch over the same bundled-corpus batches.
2. Peak memory: two fresh processes scan 10k and 100k tokens (the corpus repeated if needed);
   growth of their peak RSS (the scan's state is ``neurons × k``, not the corpus).
3. Congruence: the chunked ``W_out · W_U`` top/bottom-k of one layer against one plain matmul of
   the same size.
"""

from __future__ import annotations

import subprocess
import sys
import time

import torch
from pydantic import BaseModel

from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig, device_tokens_per_batch
from babellens.analyses.next_token_neurons import congruence_extremes, effective_output_weights
from babellens.analyses.token_filter import whole_word_mask
from babellens.bench.timing import sync_device
from babellens.capture.language_model import LanguageModel
from babellens.data.corpus import load_corpus
from babellens.data.windows import Window, make_windows
from babellens.models.precision import dtype_name

__all__ = ["ScanBenchmark", "bench_scan", "repeated_windows"]


class ScanBenchmark(BaseModel):
    model: str
    device: str
    dtype: str = "float32"
    torch_threads: int
    tokens: int
    tokens_per_batch: int = 2048
    forward_no_unembed_tokens_per_s: float
    scan_tokens_per_s: float
    scan_ratio: float
    peak_rss_mb: dict[str, float]
    rss_growth: float
    congruence_layer_s: float
    plain_matmul_s: float
    congruence_ratio: float


def repeated_windows(lm: LanguageModel, n_tokens: int, window_len: int = 128) -> list[Window]:
    """Bundled-corpus windows, repeated (with fresh indices) until they hold ``n_tokens``."""
    base = make_windows(load_corpus(), lm.tokenizer, window_len=window_len)
    windows: list[Window] = []
    total = 0
    while total < n_tokens:
        for w in base:
            windows.append(Window(len(windows), w.doc_index, w.start, w.token_ids, w.has_bos))
            total += w.n_tokens
            if total >= n_tokens:
                break
    return windows


def _throughput(
    lm: LanguageModel, n_tokens: int, config: ScanConfig | None = None
) -> tuple[float, float]:
    config = config or ScanConfig()
    scan = NeuronScan(lm, repeated_windows(lm, n_tokens, config.window_len), config)
    decoder = lm.adapter.decoder
    spent = {"forward": 0.0, "scan": 0.0}
    tokens = 0
    for i, batch in enumerate(scan.batches()):
        with torch.inference_mode():
            sync_device(lm.device)
            start = time.perf_counter()
            decoder(
                input_ids=batch.input_ids.to(lm.device),
                attention_mask=batch.attention_mask.to(lm.device),
                use_cache=False,
            )
            sync_device(lm.device)  # on a GPU the call returns before the work is done
            mid = time.perf_counter()
        scan.step(batch)
        sync_device(lm.device)
        end = time.perf_counter()
        if i == 0:
            continue  # warm-up
        spent["forward"] += mid - start
        spent["scan"] += end - mid
        tokens += int(batch.attention_mask.sum())
    return tokens / spent["forward"], tokens / spent["scan"]


def _peak_rss_subprocess(model: str, n_tokens: int) -> float:
    code = (
        "import sys, resource, babellens\n"
        "from babellens.bench.scan import repeated_windows\n"
        "from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig\n"
        "lm = babellens.load(sys.argv[1]); n = int(sys.argv[2])\n"
        "NeuronScan(lm, repeated_windows(lm, n), ScanConfig()).run()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, model, str(n_tokens)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _congruence_timing(lm: LanguageModel, layer: int) -> tuple[float, float]:
    a = lm.adapter
    mask = whole_word_mask(lm.tokenizer, a.vocab_size)
    with torch.inference_mode():
        w_eff = effective_output_weights(a, layer)
        sync_device(lm.device)
        start = time.perf_counter()
        congruence_extremes(w_eff, a.w_u, 10, 16384, mask)
        sync_device(lm.device)
        chunked = time.perf_counter() - start
        start = time.perf_counter()
        _ = w_eff @ a.w_u.float()
        sync_device(lm.device)
        plain = time.perf_counter() - start
    return chunked, plain


def bench_scan(
    lm: LanguageModel,
    *,
    tokens: int = 8192,
    rss_tokens: tuple[int, int] = (10_000, 100_000),
    measure_rss: bool = True,
    tokens_per_batch: int | None = None,
) -> ScanBenchmark:
    """``tokens_per_batch``: the scan's batch (default: what :func:`device_tokens_per_batch`
    picks for the model's device, 2048 on a CPU)."""
    budget = tokens_per_batch or device_tokens_per_batch(lm)
    forward, scan = _throughput(lm, tokens, ScanConfig(tokens_per_batch=budget))
    rss = {str(n): _peak_rss_subprocess(lm.name, n) for n in rss_tokens} if measure_rss else {}
    growth = (rss[str(rss_tokens[1])] / rss[str(rss_tokens[0])] - 1) if rss else 0.0
    chunked, plain = _congruence_timing(lm, lm.adapter.n_layers - 1)
    return ScanBenchmark(
        model=lm.name,
        device=str(lm.device),
        dtype=dtype_name(lm.dtype),
        torch_threads=torch.get_num_threads(),
        tokens=tokens,
        tokens_per_batch=budget,
        forward_no_unembed_tokens_per_s=round(forward, 1),
        scan_tokens_per_s=round(scan, 1),
        scan_ratio=round(scan / forward, 3),
        peak_rss_mb={k: round(v, 1) for k, v in rss.items()},
        rss_growth=round(growth, 4),
        congruence_layer_s=round(chunked, 2),
        plain_matmul_s=round(plain, 2),
        congruence_ratio=round(chunked / plain, 2),
    )
