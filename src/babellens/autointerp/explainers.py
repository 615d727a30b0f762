"""Explainers: an LLM behind any chat provider, and a deterministic model-free floor.

Both take a batch of units' examples and return one explanation per unit, so the LLM explainer
can send the whole batch in one ``complete_many`` (concurrent over HTTP, batched on a local
model) and the job stays the same whichever explainer it runs.

The model-free ``tokens`` explainer names the tokens (and the tokens just before them) that are
most over-represented among the activating tokens compared with non-activating text: a label
any user gets without an LLM, and the floor an LLM explainer has to beat.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from babellens.autointerp.prompts import _LABEL, clean_explanation, strip_markup
from babellens.autointerp.provider import ChatProvider, ProviderError
from babellens.autointerp.sampling import Example, UnitExamples
from babellens.autointerp.unit_prompts import unit_explain_messages

__all__ = [
    "Explainer",
    "LLMExplainer",
    "TokenStatsExplainer",
    "overrepresented",
    "unit_explanation",
]


@runtime_checkable
class Explainer(Protocol):
    name: str

    def explain_many(self, units: Sequence[UnitExamples]) -> list[str]: ...


class LLMExplainer:
    """One request per unit: its training examples with the activating tokens marked."""

    def __init__(self, provider: ChatProvider, *, max_tokens: int = 60) -> None:
        self.provider = provider
        self.name = f"llm:{provider.name}"
        self.max_tokens = max_tokens

    def messages(self, unit: UnitExamples) -> list[dict[str, str]]:
        return unit_explain_messages([e.marked_text() for e in unit.train])

    def explain_many(self, units: Sequence[UnitExamples]) -> list[str]:
        batch = [self.messages(u) for u in units]
        answers = self.provider.complete_many(batch, max_tokens=self.max_tokens, temperature=0.0)
        out = []
        for answer in answers:
            text = unit_explanation(answer)
            if not text:
                raise ProviderError(f"{self.provider.name} returned no explanation ({answer!r})")
            out.append(text)
        return out


_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
_MAX_CHARS = 300


def unit_explanation(answer: str) -> str:
    """The explainer's answer as one line: small models often open with a preamble ending in ':'
    and put the substance in a list below it; keeping only the first line (as for head
    explanations) would keep only the preamble."""
    lines = [_BULLET.sub("", line).strip() for line in strip_markup(answer or "").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    text = "; ".join(lines)
    if text.count('"') != 2:  # '"dog" and "cat"' is an explanation, not a quoted one
        text = clean_explanation(text) if text.count('"') < 2 else _LABEL.sub("", text).strip()
    else:
        text = clean_explanation(text)
    return text[:_MAX_CHARS].rstrip()


def _norm(token: str) -> str:
    return token.strip().lower()


def _counts(examples: Sequence[Example], *, marked_only: bool, offset: int) -> Counter[str]:
    """Token strings at the marked positions (shifted by ``offset``), or at every position."""
    found: Counter[str] = Counter()
    for e in examples:
        positions = e.marked if marked_only else range(len(e.tokens))
        for p in positions:
            q = p + offset
            if 0 <= q < len(e.tokens) and _norm(e.tokens[q]):
                found[_norm(e.tokens[q])] += 1
    return found


def overrepresented(
    hits: Counter[str], background: Counter[str], *, top: int, min_count: int = 2
) -> list[tuple[str, float]]:
    """Tokens by smoothed log-odds of ``hits`` against ``background`` (add-one), ties by name."""
    n_hit, n_bg = sum(hits.values()), sum(background.values())
    vocab = len(set(hits) | set(background)) + 1
    scored = []
    for token, count in hits.items():
        if count < min_count:
            continue
        p_hit = (count + 1) / (n_hit + vocab)
        p_bg = (background.get(token, 0) + 1) / (n_bg + vocab)
        scored.append((token, math.log(p_hit / p_bg)))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return [(t, round(s, 4)) for t, s in scored[:top] if s > 0]


class TokenStatsExplainer:
    """Deterministic: the same examples always give the same words."""

    name = "tokens"

    def __init__(self, *, top_tokens: int = 3, top_previous: int = 2) -> None:
        self.top_tokens = top_tokens
        self.top_previous = top_previous

    def explain(self, unit: UnitExamples) -> str:
        background = _counts(unit.background + unit.train, marked_only=False, offset=0)
        tokens = overrepresented(
            _counts(unit.train, marked_only=True, offset=0), background, top=self.top_tokens
        )
        previous = overrepresented(
            _counts(unit.train, marked_only=True, offset=-1), background, top=self.top_previous
        )
        if not tokens:  # nothing repeats: fall back to the most frequent marked tokens
            common = _counts(unit.train, marked_only=True, offset=0).most_common(self.top_tokens)
            tokens = [(t, 0.0) for t, _ in common]
        words = ", ".join(f'"{t}"' for t, _ in tokens) or '"?"'
        text = f"the tokens {words}"
        if previous:
            text += " after " + ", ".join(f'"{t}"' for t, _ in previous)
        return text

    def explain_many(self, units: Sequence[UnitExamples]) -> list[str]:
        return [self.explain(u) for u in units]
