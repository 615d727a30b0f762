"""Detection and fuzzing scores, each beside the same scorer's score for a random explanation.

- **detection**: held-out activating examples and non-activating ones, unmarked; the judge says
  whether the unit fires somewhere in each, given the explanation.
- **fuzzing**: held-out activating examples with their activating tokens marked, and
  non-activating examples with as many random tokens marked as the activating ones have on
  average (Delphi's default); the judge says whether the marks are right.

Both are balanced accuracy (the mean of the hit rates on the two classes: 0.5 is chance whatever
the class sizes), with a stratified bootstrap interval. An unreadable answer counts as wrong.

A *judge* answers the yes/no questions: an LLM behind any chat provider, or the model-free
``keywords`` judge (Yes when a term the explanation quotes occurs in the text, or in every marked
span), which needs no model and has a known right answer in tests.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from babellens.autointerp.prompts import parse_yes_no, strip_markup
from babellens.autointerp.provider import ChatProvider
from babellens.autointerp.sampling import Example, UnitExamples
from babellens.autointerp.unit_prompts import detection_messages, fuzz_messages
from babellens.errors import InvalidInputError

__all__ = [
    "SCORERS",
    "Judge",
    "KeywordJudge",
    "LLMJudge",
    "Score",
    "ScoreSample",
    "balanced_accuracy",
    "bootstrap_interval",
    "score_samples",
]

SCORERS = ("detection", "fuzzing")


class ScoreSample(BaseModel):
    """One question put to the judge: the text it sees and the right answer."""

    text: str
    label: bool
    marked: bool = Field(description="Whether the text carries << >> marks (fuzzing)")


class Score(BaseModel):
    scorer: str
    value: float = Field(description="Balanced accuracy; 0.5 is chance")
    low: float
    high: float
    n_positive: int
    n_negative: int
    unreadable: int = Field(0, description="Answers with neither Yes nor No (counted as wrong)")


@runtime_checkable
class Judge(Protocol):
    name: str

    def judge(self, explanation: str, samples: Sequence[ScoreSample]) -> list[bool | None]: ...


class LLMJudge:
    def __init__(self, provider: ChatProvider, *, max_tokens: int = 6) -> None:
        self.provider = provider
        self.name = f"llm:{provider.name}"
        self.max_tokens = max_tokens

    def messages(self, explanation: str, sample: ScoreSample) -> list[dict[str, str]]:
        if sample.marked:
            return fuzz_messages(explanation, sample.text)
        return detection_messages(explanation, sample.text)

    def judge(self, explanation: str, samples: Sequence[ScoreSample]) -> list[bool | None]:
        batch = [self.messages(explanation, s) for s in samples]
        answers = self.provider.complete_many(batch, max_tokens=self.max_tokens, temperature=0.0)
        return [parse_yes_no(a) for a in answers]


_QUOTED = re.compile(r'"([^"]+)"')
_MARKS = re.compile(r"<<(.*?)>>", re.DOTALL)


class KeywordJudge:
    """Yes when a quoted term of the explanation is in the text (detection) or in every marked
    span (fuzzing); case-insensitive, whitespace-trimmed. No quoted term: always No."""

    name = "keywords"

    def judge(self, explanation: str, samples: Sequence[ScoreSample]) -> list[bool | None]:
        quoted = _QUOTED.findall(strip_markup(explanation))
        terms = [t.strip().lower() for t in quoted if t.strip()]
        out: list[bool | None] = []
        for s in samples:
            if s.marked:
                spans = [m.lower() for m in _MARKS.findall(s.text)]
                out.append(bool(spans) and all(any(t in sp for t in terms) for sp in spans))
            else:
                text = s.text.lower()
                out.append(any(t in text for t in terms))
        return out


def detection_samples(unit: UnitExamples) -> list[ScoreSample]:
    return [ScoreSample(text=e.text, label=True, marked=False) for e in unit.test] + [
        ScoreSample(text=e.text, label=False, marked=False) for e in unit.non_activating
    ]


def _random_marks(example: Example, n: int, rng: random.Random) -> list[int]:
    return sorted(rng.sample(range(len(example.tokens)), min(n, len(example.tokens))))


def fuzz_samples(unit: UnitExamples, seed: str) -> list[ScoreSample]:
    rng = random.Random(seed)
    n_marks = math.ceil(sum(len(e.marked) for e in unit.test) / max(1, len(unit.test)))
    right = [ScoreSample(text=e.marked_text(), label=True, marked=True) for e in unit.test]
    wrong = [
        ScoreSample(
            text=e.marked_text(_random_marks(e, max(1, n_marks), rng)), label=False, marked=True
        )
        for e in unit.non_activating
    ]
    return right + wrong


def samples_for(scorer: str, unit: UnitExamples, seed: str) -> list[ScoreSample]:
    if scorer == "detection":
        return detection_samples(unit)
    if scorer == "fuzzing":
        return fuzz_samples(unit, seed)
    raise InvalidInputError(f"unknown scorer {scorer!r}: use one of {', '.join(SCORERS)}")


def balanced_accuracy(correct: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = correct[labels], correct[~labels]
    rates = [float(part.mean()) for part in (pos, neg) if part.size]
    return sum(rates) / len(rates) if rates else float("nan")


def bootstrap_interval(
    correct: np.ndarray, labels: np.ndarray, *, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the balanced accuracy, resampling within each class."""
    rng = np.random.default_rng(seed)
    rates = []
    for part in (correct[labels].astype(float), correct[~labels].astype(float)):
        if part.size:
            rates.append(part[rng.integers(0, part.size, (resamples, part.size))].mean(axis=1))
    if not rates:
        return float("nan"), float("nan")
    stats = sum(rates) / len(rates)
    low, high = np.percentile(stats, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def score_samples(
    scorer: str, samples: Sequence[ScoreSample], answers: Sequence[bool | None]
) -> Score:
    labels = np.array([s.label for s in samples], dtype=bool)
    said = np.array([a is True for a in answers], dtype=bool)
    readable = np.array([a is not None for a in answers], dtype=bool)
    correct = (said == labels) & readable
    low, high = bootstrap_interval(correct, labels)
    return Score(
        scorer=scorer,
        value=round(balanced_accuracy(correct, labels), 4),
        low=low,
        high=high,
        n_positive=int(labels.sum()),
        n_negative=int((~labels).sum()),
        unreadable=int((~readable).sum()),
    )
