"""How often a model shows a behaviour in each language, with bootstrap confidence intervals."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from pydantic import BaseModel, Field

from babellens.capture.interventions import add
from babellens.capture.language_model import LanguageModel
from babellens.crossling.language_id import in_language_share
from babellens.data.prompts import chat_prompt, instructions
from babellens.steering.apply import generate
from babellens.steering.vector import SteeringVector

__all__ = [
    "BehaviourRate",
    "Cell",
    "RateConfig",
    "Steering",
    "behaviour_rate",
    "behaviour_rates",
    "bootstrap_interval",
]


class RateConfig(BaseModel):
    prompts: int = Field(20, ge=1, le=1000, description="Held-out instructions per language")
    max_new_tokens: int = Field(48, ge=1, le=1024)
    temperature: float = Field(0.7, ge=0.0)
    seed: int = 0
    batch_size: int = Field(8, ge=1, le=256)
    resamples: int = Field(1000, ge=10, le=100_000)


@dataclass(frozen=True)
class Steering:
    """A vector added to the residual stream at ``layers`` while the model answers."""

    vector: SteeringVector
    coefficient: float
    layers: tuple[int, ...]


class BehaviourRate(BaseModel):
    lang: str
    mean: float = Field(description="Mean metric over the answers that could be scored, in %")
    low: float = Field(description="Bootstrap 95% interval, lower end, in %")
    high: float
    scored: int
    samples: list[str]
    in_language: float | None = Field(
        None,
        description="% of the answers written in the prompt's language (a CAPS rate counts "
        "answers that switched language too); None where the language is not bundled",
    )


def bootstrap_interval(
    values: Sequence[float], resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean."""
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return means[int(0.025 * (resamples - 1))], means[math.ceil(0.975 * (resamples - 1))]


def behaviour_rate(
    lm: LanguageModel,
    lang: str,
    metric: Callable[[str], float],
    config: RateConfig,
    progress: Callable[[int, int], None] | None = None,
    steering: Steering | None = None,
) -> BehaviourRate:
    """Answers to the held-out (eval) instructions of ``lang``, scored by ``metric`` (0..1 -> %)."""
    return behaviour_rates(lm, [(lang, steering)], metric, config, progress)[0]


Cell = tuple[str, Steering | None]
"""A language and how the model is steered while answering in it (``None``: not steered)."""


def behaviour_rates(
    lm: LanguageModel,
    cells: Sequence[Cell],
    metric: Callable[[str], float],
    config: RateConfig,
    progress: Callable[[int, int], None] | None = None,
) -> list[BehaviourRate]:
    """One rate per cell, every cell's answers generated in shared batches of ``batch_size`` rows.

    Rows of different languages and steering conditions share a batch: each row carries its own
    push (zero for an unsteered row, which leaves it exact). Decoding is bound by reading the
    weights, so on a CPU 64 rows cost about 1.5 times 32 and twice 8: the rates of six languages,
    or a whole dose-response curve, cost a few batches instead of one generation per cell.
    """
    rows = [
        (i, chat_prompt(lm.tokenizer, r["text"]))
        for i, (lang, _) in enumerate(cells)
        for r in instructions(lang, "eval")[: config.prompts]
    ]
    pushes = _row_pushes(lm, [steering for _, steering in cells])
    answers: list[list[str]] = [[] for _ in cells]
    for start in range(0, len(rows), config.batch_size):
        chunk = rows[start : start + config.batch_size]
        which = torch.tensor([i for i, _ in chunk], device=lm.device)
        edits = [
            add(f"resid_post.{layer}", push[which][:, None, :]) for layer, push in pushes.items()
        ]
        texts = generate(
            lm,
            [p for _, p in chunk],
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            seed=config.seed + start,
            interventions=edits,
        )
        for (i, _), text in zip(chunk, texts, strict=True):
            answers[i].append(text)
        if progress is not None:
            progress(min(start + config.batch_size, len(rows)), len(rows))
    return [
        _score(lang, found, metric, config) for (lang, _), found in zip(cells, answers, strict=True)
    ]


def _row_pushes(
    lm: LanguageModel, conditions: Sequence[Steering | None]
) -> dict[int, torch.Tensor]:
    """Per steered layer, one push per condition (zeros where a condition leaves the layer alone)."""
    layers = sorted(
        {lm.adapter.check_layer(x) for s in conditions if s is not None for x in s.layers}
    )
    pushes = {}
    for layer in layers:
        rows = []
        for s in conditions:
            if s is None or layer not in s.layers:
                rows.append(torch.zeros(lm.adapter.d_model))
                continue
            s.vector.check_model(lm.adapter.d_model, lm.adapter.n_layers)
            rows.append(s.coefficient * s.vector.direction(layer).float().cpu())
        pushes[layer] = torch.stack(rows).to(lm.device, lm.dtype)
    return pushes


def _score(
    lang: str, answers: list[str], metric: Callable[[str], float], config: RateConfig
) -> BehaviourRate:
    values = [100 * v for v in (metric(a) for a in answers) if not math.isnan(v)]
    in_language = in_language_share(answers, lang)
    if not values:
        nan = float("nan")
        return BehaviourRate(
            lang=lang,
            mean=nan,
            low=nan,
            high=nan,
            scored=0,
            samples=answers[:3],
            in_language=in_language,
        )
    low, high = bootstrap_interval(values, config.resamples, config.seed)
    return BehaviourRate(
        lang=lang,
        mean=sum(values) / len(values),
        low=low,
        high=high,
        scored=len(values),
        samples=answers[:3],
        in_language=in_language,
    )
