"""Statistics on fixed inputs with answers computed by hand (or from the published formula)."""

from __future__ import annotations

import math

import pytest

from babellens.errors import InvalidInputError
from babellens.lookups import balanced_accuracy, describe, ks_test, skewness_test

T, F = True, False


def test_balanced_accuracy_by_hand():
    # TPR 2/3, TNR 3/4
    truth = [T, T, T, F, F, F, F]
    assert balanced_accuracy(truth, [T, T, F, F, F, T, F]) == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert balanced_accuracy(truth, [F] * 7) == 0.5  # always "no" is chance, not 4/7
    assert balanced_accuracy(truth, truth) == 1.0
    assert balanced_accuracy(truth, [not t for t in truth]) == 0.0


def test_balanced_accuracy_skips_unparsed_answers_and_missing_classes():
    assert balanced_accuracy([T, T, F, F], [T, None, T, F]) == 0.75  # TPR 1/1, TNR 1/2
    assert balanced_accuracy([T, F, T], [T, None, F]) is None  # no negative left
    assert balanced_accuracy([T, T], [T, F]) is None
    assert balanced_accuracy([], []) is None
    with pytest.raises(InvalidInputError, match="differ in length"):
        balanced_accuracy([T, F], [T])


def test_describe_by_hand():
    d = describe([1, 2, 3, 4, 10])
    assert (d.n, d.mean, d.median) == (5, 4.0, 3.0)
    assert d.std == pytest.approx(math.sqrt((9 + 4 + 1 + 0 + 36) / 4))
    one = describe([2.5])
    assert (one.n, one.mean, one.std, one.median) == (1, 2.5, 0.0, 2.5)
    assert describe([1, 2, 3, 4]).median == 2.5
    with pytest.raises(InvalidInputError, match="at least one value"):
        describe([])
    with pytest.raises(InvalidInputError, match="finite"):
        describe([1.0, float("nan")])


def _dagostino(x: list[float]) -> tuple[float, float]:
    """D'Agostino (1970) skewness Z and its two-sided normal p-value, from the formula."""
    n = len(x)
    mean = sum(x) / n
    m2 = sum((v - mean) ** 2 for v in x) / n
    m3 = sum((v - mean) ** 3 for v in x) / n
    y = m3 / m2**1.5 * math.sqrt((n + 1) * (n + 3) / (6 * (n - 2)))
    beta2 = 3 * (n * n + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2) * (n + 5) * (n + 7) * (n + 9))
    w2 = -1 + math.sqrt(2 * (beta2 - 1))
    delta = 1 / math.sqrt(0.5 * math.log(w2))
    alpha = math.sqrt(2 / (w2 - 1))
    z = delta * math.log(y / alpha + math.sqrt((y / alpha) ** 2 + 1))
    return z, math.erfc(abs(z) / math.sqrt(2))


def test_skewness_test_matches_the_formula():
    right_skewed = [1, 1, 1, 2, 2, 3, 4, 8, 15, 30]
    z, p = _dagostino(right_skewed)
    got = skewness_test(right_skewed)
    assert got.statistic == pytest.approx(z, rel=1e-9)
    assert got.p_value == pytest.approx(p, rel=1e-9)
    assert got.statistic > 0 and got.p_value < 0.05
    symmetric = skewness_test([1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert symmetric.statistic == pytest.approx(0.0, abs=1e-12) and symmetric.p_value == 1.0
    with pytest.raises(InvalidInputError, match="at least 8 values"):
        skewness_test([1, 2, 3])


def test_ks_test_exact_small_samples():
    # disjoint samples: D = 1; exact two-sided p = 2 / C(6, 3) = 0.1 and 2 / C(5, 2) = 0.2
    got = ks_test([1, 2, 3], [4, 5, 6])
    assert got.statistic == 1.0 and got.p_value == pytest.approx(0.1)
    assert ks_test([1, 2], [3, 4, 5]).p_value == pytest.approx(0.2)
    same = ks_test([1, 2, 3], [1, 2, 3])
    assert same.statistic == 0.0 and same.p_value == 1.0
    # ECDFs of [1, 2, 3, 4] and [3, 4, 5, 6] differ by at most 1/2 (at 2 and at 4)
    assert ks_test([1, 2, 3, 4], [3, 4, 5, 6]).statistic == 0.5
    with pytest.raises(InvalidInputError, match="each sample"):
        ks_test([], [1.0])
