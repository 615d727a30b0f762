"""The statistics of step 6: how well an explanation predicts a head's activity, and how the
scores of next-token neurons compare with those of random neurons.

Balanced accuracy, not accuracy: a head is active on a minority of prompts, so a scorer that
always says "no" would look good on plain accuracy; ``(TPR + TNR) / 2`` scores it 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from babellens.errors import InvalidInputError

__all__ = [
    "Distribution",
    "TestResult",
    "balanced_accuracy",
    "describe",
    "ks_test",
    "skewness_test",
]

_SKEWTEST_MIN = 8
"""scipy's D'Agostino skewness test needs at least 8 observations."""


class Distribution(BaseModel):
    n: int
    mean: float
    std: float
    """Sample standard deviation (n - 1 in the denominator); 0 for a single value."""
    median: float


class TestResult(BaseModel):
    __test__: ClassVar[bool] = False  # a name pytest would otherwise try to collect

    statistic: float
    p_value: float


def balanced_accuracy(truth: Sequence[bool], predicted: Sequence[bool | None]) -> float | None:
    """``(TPR + TNR) / 2``; ``None`` when ``truth`` lacks a class (no actives or no inactives).

    Pairs whose prediction is ``None`` (a scorer answer that could not be parsed) are skipped.
    """
    if len(truth) != len(predicted):
        raise InvalidInputError(
            f"truth and predictions differ in length ({len(truth)} vs {len(predicted)})"
        )
    pairs = [(bool(t), bool(p)) for t, p in zip(truth, predicted, strict=True) if p is not None]
    positives = [p for t, p in pairs if t]
    negatives = [p for t, p in pairs if not t]
    if not positives or not negatives:
        return None
    tpr = sum(positives) / len(positives)
    tnr = sum(not p for p in negatives) / len(negatives)
    return (tpr + tnr) / 2


def describe(values: Sequence[float]) -> Distribution:
    """Count, mean ± sample standard deviation, and median."""
    x = _finite(values, "describe")
    if x.size == 0:
        raise InvalidInputError("describe needs at least one value")
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    return Distribution(n=int(x.size), mean=float(x.mean()), std=std, median=float(np.median(x)))


def skewness_test(values: Sequence[float]) -> TestResult:
    """D'Agostino's test that the skewness is zero (``scipy.stats.skewtest``, two-sided)."""
    from scipy import stats

    x = _finite(values, "skewness_test")
    if x.size < _SKEWTEST_MIN:
        raise InvalidInputError(
            f"the skewness test needs at least {_SKEWTEST_MIN} values, got {x.size}"
        )
    if stats.skew(x) == 0:  # scipy swaps an exactly zero y for 1 (Z = 1.02 for 1..9): answer it
        return TestResult(statistic=0.0, p_value=1.0)
    result = stats.skewtest(x)
    return TestResult(statistic=float(result.statistic), p_value=float(result.pvalue))


def ks_test(a: Sequence[float], b: Sequence[float]) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided, exact for small
    samples): do ``a`` and ``b`` come from one distribution?"""
    from scipy import stats

    x, y = _finite(a, "ks_test"), _finite(b, "ks_test")
    if x.size == 0 or y.size == 0:
        raise InvalidInputError("the KS test needs at least one value in each sample")
    result = stats.ks_2samp(x, y)
    return TestResult(statistic=float(result.statistic), p_value=float(result.pvalue))


def _finite(values: Sequence[float], what: str) -> np.ndarray:
    x = np.asarray(list(values), dtype=np.float64)
    if x.ndim != 1 or not np.isfinite(x).all():
        raise InvalidInputError(f"{what} takes a flat list of finite numbers")
    return x
