"""From per-pair records to the paper's table: explanation scores and the ablation statistics.

Pure functions of the records, so a report can be re-summarised (and tested) without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from babellens.lookups.report import AblationSummary, GroupSummary, HeadLookup, NeuronLookup
from babellens.lookups.stats import (
    Distribution,
    balanced_accuracy,
    describe,
    ks_test,
    skewness_test,
)

__all__ = [
    "MIN_SKEW_N",
    "ablation_summary",
    "group_summary",
    "head_ablation",
    "missing_class",
    "score_answers",
]

MIN_SKEW_N = 8
"""D'Agostino's skewness test needs at least 8 values."""

Unparsed = Literal["no", "skip"]


def score_answers(
    truth: Sequence[bool], predicted: Sequence[bool | None], unparsed: Unparsed = "no"
) -> tuple[float | None, str | None]:
    """Balanced accuracy of the scorer's answers, and why there is none when there is none.

    An unparsed answer counts as "No" by default (a scorer that does not answer does not get to
    drop the examples it finds hard); ``unparsed="skip"`` leaves those examples out instead.
    """
    pairs = list(zip(truth, predicted, strict=True))
    if unparsed == "skip":
        pairs = [(t, p) for t, p in pairs if p is not None]
    t = [bool(x) for x, _ in pairs]
    note = missing_class(t)
    if note is not None:
        return None, note
    return balanced_accuracy(t, [bool(y) for _, y in pairs]), None


def missing_class(truth: Sequence[bool]) -> str | None:
    """Why ``truth`` cannot be scored (a class is missing), or None when it can."""
    if not truth:
        return "no test prompts"
    if all(truth) or not any(truth):
        return f"the test prompts hold no {'inactive' if any(truth) else 'active'} example"
    return None


def _split(examples, field: str, active: bool) -> Distribution | None:
    values = [
        getattr(e, field)
        for e in examples
        if getattr(e, field) is not None and e.active == active and e.ablation_drop is not None
    ]
    return describe(values) if values else None


def _fidelity(examples) -> dict[str, Distribution | None]:
    """P(token) before ablation, and the drop in log-probability and relative to P(token)."""
    clean = [
        e.probability for e in examples if e.probability is not None and e.ablation_drop is not None
    ]
    return {
        "clean_probability": describe(clean) if clean else None,
        "logprob_drop_active": _split(examples, "logprob_drop", True),
        "logprob_drop_inactive": _split(examples, "logprob_drop", False),
        "relative_drop_active": _split(examples, "relative_drop", True),
        "relative_drop_inactive": _split(examples, "relative_drop", False),
    }


def head_ablation(head: HeadLookup) -> HeadLookup:
    """The head with its per-example drops summarised by activity."""
    on = [e.ablation_drop for e in head.examples if e.ablation_drop is not None and e.active]
    off = [e.ablation_drop for e in head.examples if e.ablation_drop is not None and not e.active]
    return head.model_copy(
        update={
            "ablation_active": describe(on) if on else None,
            "ablation_inactive": describe(off) if off else None,
            **_fidelity(head.examples),
        }
    )


def group_summary(
    neurons: Sequence[NeuronLookup], group: Literal["next_token", "random"]
) -> GroupSummary:
    members = [n for n in neurons if n.group == group]
    heads = [h for n in members for h in n.heads if h.explanation is not None]
    scores = [h.score for h in heads if h.score is not None]
    return GroupSummary(
        group=group,
        neurons=len(members),
        pairs=len(heads),
        scored=len(scores),
        score=describe(scores) if scores else None,
        skewness=skewness_test(scores) if len(scores) >= MIN_SKEW_N else None,
    )


def ablation_summary(
    neurons: Sequence[NeuronLookup], group: Literal["next_token", "random"]
) -> AblationSummary:
    """Drops pooled over every (neuron, head) pair of the group, where active versus inactive."""
    on: list[float] = []
    off: list[float] = []
    for n in neurons:
        if n.group != group:
            continue
        for h in n.heads:
            for e in h.examples:
                if e.ablation_drop is not None:
                    (on if e.active else off).append(e.ablation_drop)
    examples = [e for n in neurons if n.group == group for h in n.heads for e in h.examples]
    return AblationSummary(
        group=group,
        active=describe(on) if on else None,
        inactive=describe(off) if off else None,
        **_fidelity(examples),
        ks=ks_test(on, off) if on and off else None,
    )
