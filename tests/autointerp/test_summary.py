"""The layer summary and the budget check, against hand computations."""

from __future__ import annotations

import pytest

from babellens.autointerp.budget import Cost, check_budget
from babellens.autointerp.pipeline import ExplainedUnit, UnitScore
from babellens.autointerp.scoring import Score
from babellens.autointerp.summary import summarize
from babellens.autointerp.units import UnitRef
from babellens.errors import InvalidInputError


def _unit(i: int, own: float, rand: float) -> ExplainedUnit:
    def score(v: float) -> Score:
        return Score(scorer="detection", value=v, low=v, high=v, n_positive=30, n_negative=20)

    return ExplainedUnit(
        unit=UnitRef(layer=0, index=i),
        explanation="x",
        explainer="tokens",
        judge="keywords",
        scores=[
            UnitScore(score=score(own), random=score(rand), random_of=UnitRef(layer=0, index=9))
        ],
        n_activating=40,
        threshold=0.0,
        max_activation=1.0,
        train_examples=[],
        test_examples=[],
        top_tokens=[],
    )


def test_summary_means_wins_and_counts() -> None:
    units = [_unit(0, 0.9, 0.5), _unit(1, 0.7, 0.6), _unit(2, 0.5, 0.55)]
    (row,) = summarize(units)
    assert row.units == 3 and row.wins == 2 and row.examples_per_unit == 50
    assert row.mean == pytest.approx(0.7) and row.random_mean == pytest.approx(0.55)
    assert row.low <= row.mean <= row.high and row.low >= 0.5 and row.high <= 0.9


def test_budget_refuses_over_either_cap() -> None:
    cost = Cost(calls=10, tokens=5000, explainer_calls=2, judge_calls=8)
    check_budget(cost, 10, 5000)
    with pytest.raises(InvalidInputError, match="10 calls"):
        check_budget(cost, 9, None)
    with pytest.raises(InvalidInputError, match="5,000 tokens"):
        check_budget(cost, None, 4999)
