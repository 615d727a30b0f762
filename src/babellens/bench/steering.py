"""Overhead of steered generation over plain generation of the same prompts, interleaved."""

from __future__ import annotations

import time

from pydantic import BaseModel

from babellens.capture.language_model import LanguageModel
from babellens.steering import ContrastPair, ContrastSet, build, generate

__all__ = ["SteeringBenchResult", "bench_steering"]

PROMPTS = [
    "Describe a quiet morning in a small village.",
    "Give me two tips for sleeping well.",
    "Explain why the sky looks blue.",
    "Write one sentence about the sea.",
]


class SteeringBenchResult(BaseModel):
    model: str
    batch: int
    new_tokens: int
    rounds: int
    plain_s: float
    steered_all_s: float
    steered_generated_s: float
    ratio_all: float
    ratio_generated: float


def bench_steering(lm: LanguageModel, new_tokens: int = 32, rounds: int = 5) -> SteeringBenchResult:
    pairs = [ContrastPair(positive=p.upper(), negative=p) for p in PROMPTS]
    layer = round(0.3 * (lm.adapter.n_layers - 1))
    vector = build(lm, ContrastSet(name="bench", pairs=pairs), [layer], read="mean")
    methods = {
        "plain": lambda: generate(lm, PROMPTS, max_new_tokens=new_tokens),
        "all": lambda: generate(lm, PROMPTS, vector, 1.0, max_new_tokens=new_tokens),
        "generated": lambda: generate(
            lm, PROMPTS, vector, 1.0, positions="generated", max_new_tokens=new_tokens
        ),
    }
    totals = dict.fromkeys(methods, 0.0)
    for fn in methods.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()  # generate returns decoded text, so the device work is finished here
            totals[name] += time.perf_counter() - start
    return SteeringBenchResult(
        model=lm.name,
        batch=len(PROMPTS),
        new_tokens=new_tokens,
        rounds=rounds,
        plain_s=totals["plain"],
        steered_all_s=totals["all"],
        steered_generated_s=totals["generated"],
        ratio_all=totals["all"] / totals["plain"],
        ratio_generated=totals["generated"] / totals["plain"],
    )
