"""``babellens bench capture``: capture every layer's neurons against the plain forward pass.

Three ways over the same batches: the HF forward with logits, the HF decoder without the
unembedding (the limit for any capture), and BabelLens capturing ``mlp_post`` of every layer
reduced in the hook to a per-neuron max over positions.
"""

from __future__ import annotations

import platform

import torch
from pydantic import BaseModel

from babellens.bench.timing import interleaved_seconds
from babellens.capture.language_model import LanguageModel
from babellens.capture.reductions import max_over_positions

__all__ = ["CaptureBenchmark", "ThroughputRow", "bench_capture"]


class ThroughputRow(BaseModel):
    method: str
    seconds: float
    tokens_per_s: float
    ratio_to_no_unembed: float
    ratio_to_logits: float


class CaptureBenchmark(BaseModel):
    model: str
    device: str
    dtype: str
    torch_threads: int
    machine: str
    batch_size: int
    seq_len: int
    batches: int
    rounds: int
    tokens_per_method: int
    rows: list[ThroughputRow]


def bench_capture(
    lm: LanguageModel,
    *,
    batch_size: int = 8,
    seq_len: int = 128,
    batches: int = 3,
    rounds: int = 2,
    seed: int = 0,
) -> CaptureBenchmark:
    gen = torch.Generator().manual_seed(seed)
    vocab = lm.adapter.vocab_size
    data = [
        torch.randint(10, vocab, (batch_size, seq_len), generator=gen).to(lm.device)
        for _ in range(batches)
    ]
    points = [f"mlp_post.{layer}" for layer in range(lm.adapter.n_layers)]
    decoder = lm.adapter.decoder

    methods = {
        "hf_forward_with_logits": lambda ids: lm.model(input_ids=ids, use_cache=False),
        "hf_forward_no_unembed": lambda ids: decoder(input_ids=ids, use_cache=False),
        "babellens_capture_mlp_post_max": lambda ids: lm.run(
            ids, capture=points, reduce=max_over_positions
        ),
    }
    seconds = interleaved_seconds(methods, data, rounds=rounds, device=lm.device)
    tokens = batch_size * seq_len * batches * rounds
    limit, full = seconds["hf_forward_no_unembed"], seconds["hf_forward_with_logits"]
    rows = [
        ThroughputRow(
            method=name,
            seconds=round(s, 3),
            tokens_per_s=round(tokens / s, 1),
            ratio_to_no_unembed=round(limit / s, 3),
            ratio_to_logits=round(full / s, 3),
        )
        for name, s in seconds.items()
    ]
    return CaptureBenchmark(
        model=lm.name,
        device=str(lm.device),
        dtype=str(lm.dtype).removeprefix("torch."),
        torch_threads=torch.get_num_threads(),
        machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
        batch_size=batch_size,
        seq_len=seq_len,
        batches=batches,
        rounds=rounds,
        tokens_per_method=tokens,
        rows=rows,
    )
