"""The follow-rate evidence against hand counts."""

from __future__ import annotations

from babellens.analyses.unit_evidence import FollowEvidence, followed_fraction


def test_followed_fraction_counts_next_tokens_by_hand():
    examples = [
        ([5, 6, 7], 0),  # next is 6: promoted
        ([5, 6, 7], 1),  # next is 7: not promoted
        ([9, 6], 1),  # the maximum is the last token: no next token, left out
        ([1, 2, 6, 6], 1),  # next is 6: promoted
    ]
    assert followed_fraction(examples, {6, 100}) == (2, 3)
    assert followed_fraction(examples, set()) == (0, 3)
    assert followed_fraction([], {6}) == (0, 0)


def test_fraction_of_no_examples_is_zero():
    ev = FollowEvidence(layer=1, neuron=2, followed=0, examples=0, promoted=[], congruence=0.5)
    assert ev.fraction == 0.0
    assert FollowEvidence(**{**ev.model_dump(), "followed": 3, "examples": 4}).fraction == 0.75
