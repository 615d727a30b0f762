"""Scoring and the paper's table on fixed records, against numbers worked out by hand."""

from __future__ import annotations

import pytest

from babellens.lookups.report import ExampleRecord, HeadLookup, NeuronLookup
from babellens.lookups.summary import ablation_summary, group_summary, head_ablation, score_answers


def _ex(active: bool, drop: float | None = None, split: str = "train") -> ExampleRecord:
    return ExampleRecord(
        split=split,
        window=0,
        text="x",
        n_tokens=1,
        activation=1.0,
        original=1.0,
        attribution=0.0,
        active=active,
        ablation_drop=drop,
    )


def _neuron(
    group: str, scores: list[float | None], drops: list[tuple[bool, float]] = ()
) -> NeuronLookup:
    heads = [
        HeadLookup(
            layer=0,
            head=i,
            active_fraction=0.5,
            explanation="e",
            score=s,
            examples=[_ex(a, d) for a, d in drops],
        )
        for i, s in enumerate(scores)
    ]
    return NeuronLookup(
        group=group,
        layer=1,
        neuron=len(scores),
        token_id=5,
        token=" cat",
        congruence=1.0,
        n_train=4,
        n_test=4,
        n_dropped=0,
        heads=heads,
    )


def test_balanced_accuracy_of_the_answers():
    truth = [True, True, False, False, False]
    # TPR 1/2, TNR 2/3 -> (1/2 + 2/3) / 2 = 7/12
    assert score_answers(truth, [True, False, False, False, True])[0] == pytest.approx(7 / 12)
    # an unparsed answer counts as No by default ...
    assert score_answers(truth, [True, None, False, False, True])[0] == pytest.approx(7 / 12)
    # ... or is left out: truth [T, F, F, F], answers [T, F, F, T] -> (1 + 2/3) / 2 = 5/6
    assert score_answers(truth, [True, None, False, False, True], "skip")[0] == pytest.approx(5 / 6)
    assert score_answers(truth, [True] * 5)[0] == 0.5  # always Yes: TPR 1, TNR 0
    assert score_answers(truth, [True, True, False, False, False])[0] == 1.0


def test_a_test_set_without_both_classes_gets_no_score():
    assert score_answers([True, True], [True, False]) == (
        None,
        "the test prompts hold no inactive example",
    )
    assert score_answers([False], [False]) == (None, "the test prompts hold no active example")
    assert score_answers([], []) == (None, "no test prompts")


def test_group_summary_pools_the_scored_pairs_of_a_group():
    neurons = [
        _neuron("next_token", [0.5, 1.0]),
        _neuron("next_token", [0.75, None]),
        _neuron("random", [0.5]),
    ]
    g = group_summary(neurons, "next_token")
    assert (g.neurons, g.pairs, g.scored) == (2, 4, 3)
    # scores 0.5, 1.0, 0.75: mean 0.75, median 0.75, population std sqrt(0.125 / 3) = 0.2041
    assert g.score.mean == pytest.approx(0.75) and g.score.median == pytest.approx(0.75)
    assert g.score.std == pytest.approx(
        (0.125 / 3) ** 0.5, rel=1e-6
    ) or g.score.std == pytest.approx(0.25)
    assert g.skewness is None  # fewer than 8 scores
    r = group_summary(neurons, "random")
    assert (r.neurons, r.pairs, r.scored, r.score.mean) == (1, 1, 1, 0.5)


def test_skewness_needs_eight_scores():
    g = group_summary([_neuron("next_token", [0.5] * 7 + [1.0])], "next_token")
    assert g.scored == 8 and g.skewness is not None and g.skewness.statistic > 0  # right tail


def test_ablation_statistics_by_head_activity():
    drops = [(True, 0.3), (True, 0.1), (True, 0.2), (False, 0.0), (False, 0.05)]
    neurons = [_neuron("next_token", [0.5], drops), _neuron("random", [0.5], [(True, 9.0)])]
    a = ablation_summary(neurons, "next_token")
    assert (a.active.n, a.active.mean, a.active.median) == (
        3,
        pytest.approx(0.2),
        pytest.approx(0.2),
    )
    assert (a.inactive.n, a.inactive.mean, a.inactive.median) == (
        2,
        pytest.approx(0.025),
        pytest.approx(0.025),
    )
    # every active drop exceeds every inactive one: D = 1; exact two-sided p = 2 / C(5, 2) = 0.2
    assert a.ks.statistic == pytest.approx(1.0) and a.ks.p_value == pytest.approx(0.2)
    only = ablation_summary([neurons[1]], "random")
    assert only.active.mean == 9.0 and only.inactive is None and only.ks is None


def test_per_head_ablation_summary():
    head = head_ablation(
        _neuron("next_token", [0.5], [(True, 0.4), (False, 0.1), (False, 0.3)]).heads[0]
    )
    assert head.ablation_active.mean == pytest.approx(0.4)
    assert head.ablation_inactive.mean == pytest.approx(
        0.2
    ) and head.ablation_inactive.median == pytest.approx(0.2)
