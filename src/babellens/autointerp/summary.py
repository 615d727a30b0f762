"""A layer's scores in brief: per scorer, the mean over units beside the random-explanation mean.

Intervals are a bootstrap over units (the unit is the thing sampled from the layer), 95%
percentile; ``wins`` says for how many units the explanation beat its random baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from babellens.autointerp.pipeline import ExplainedUnit

__all__ = ["ScorerSummary", "mean_interval", "summarize"]


class ScorerSummary(BaseModel):
    scorer: str
    units: int
    mean: float
    low: float
    high: float
    random_mean: float | None = Field(description="The same scorer on other units' explanations")
    random_low: float | None
    random_high: float | None
    wins: int = Field(description="Units whose score beats their random baseline")
    examples_per_unit: float = Field(
        description="Mean held-out examples each unit's score rests on"
    )


def mean_interval(
    values: Sequence[float], *, resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, (resamples, arr.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return round(float(arr.mean()), 4), round(float(low), 4), round(float(high), 4)


def summarize(units: Sequence[ExplainedUnit]) -> list[ScorerSummary]:
    names: list[str] = []
    for u in units:
        names.extend(s.score.scorer for s in u.scores if s.score.scorer not in names)
    out = []
    for name in names:
        pairs = [s for u in units for s in u.scores if s.score.scorer == name]
        own = [p.score.value for p in pairs]
        rand = [p.random.value for p in pairs if p.random is not None]
        mean, low, high = mean_interval(own)
        r_mean, r_low, r_high = mean_interval(rand) if rand else (None, None, None)
        out.append(
            ScorerSummary(
                scorer=name,
                units=len(pairs),
                mean=mean,
                low=low,
                high=high,
                random_mean=r_mean,
                random_low=r_low,
                random_high=r_high,
                wins=sum(
                    1 for p in pairs if p.random is not None and p.score.value > p.random.value
                ),
                examples_per_unit=round(
                    float(np.mean([p.score.n_positive + p.score.n_negative for p in pairs])), 1
                ),
            )
        )
    return out
