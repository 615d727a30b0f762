"""How often a model shows a behaviour in each language, with bootstrap confidence intervals."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from babellens.data.prompts import chat_prompt, instructions
from babellens.models.language_model import LanguageModel
from babellens.steering.apply import generate
from babellens.steering.vector import SteeringVector

__all__ = ["BehaviourRate", "RateConfig", "Steering", "behaviour_rate", "bootstrap_interval"]


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
    rows = instructions(lang, "eval")[: config.prompts]
    prompts = [chat_prompt(lm.tokenizer, r["text"]) for r in rows]
    answers: list[str] = []
    for start in range(0, len(prompts), config.batch_size):
        steer = {} if steering is None else {"vector": steering.vector, "coefficient": steering.coefficient,
                                             "layers": list(steering.layers)}  # fmt: skip
        answers += generate(lm, prompts[start : start + config.batch_size], max_new_tokens=config.max_new_tokens,
                            temperature=config.temperature, seed=config.seed + start, **steer)  # fmt: skip
        if progress is not None:
            progress(len(answers), len(prompts))
    values = [100 * v for v in (metric(a) for a in answers) if not math.isnan(v)]
    if not values:
        return BehaviourRate(
            lang=lang,
            mean=float("nan"),
            low=float("nan"),
            high=float("nan"),
            scored=0,
            samples=answers[:3],
        )
    low, high = bootstrap_interval(values, config.resamples, config.seed)
    return BehaviourRate(
        lang=lang,
        mean=sum(values) / len(values),
        low=low,
        high=high,
        scored=len(values),
        samples=answers[:3],
    )
