"""Who explains a look-up head and who scores the explanation: an LLM, or a model-free floor.

A look-up head is explained from snippets where it is active and snippets where it is not, each
ending with the next-token neuron's token, and scored by Yes/No answers on held-out snippets
(Neo, Cohen & Barez 2024). :class:`HeadExplainer` is that pair of questions as one interface, so
the look-ups pipeline asks them the same way whoever answers:

- :class:`ProviderHeadExplainer` sends them to any :class:`ChatProvider` through
  :func:`explain_head` / :func:`score_examples`, unchanged;
- :class:`ContextTokensHeadExplainer` answers them without a model: the explanation quotes the
  words (and word pairs) found in more of the active snippets than of the inactive ones, and the
  score says Yes exactly when a held-out snippet contains one of the quoted terms. It is
  deterministic, offline and free, so every LLM explainer has a floor to beat and a user without
  an LLM still gets a label.

The model-free pair works on words of the decoded text, not on model tokens: the explanation is
read by people and matched against the same text the scorer sees.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from babellens.autointerp.explain import explain_head, score_examples
from babellens.autointerp.provider import ChatProvider

__all__ = [
    "HEAD_EXPLAINER_TOKENS",
    "HEAD_SCORER_KEYWORDS",
    "MODEL_FREE_HEAD_SPECS",
    "ContextTokensHeadExplainer",
    "HeadExplainer",
    "ProviderHeadExplainer",
    "context_terms",
    "head_label",
    "quoted_terms",
]

HEAD_EXPLAINER_TOKENS = "tokens"
"""Spec of the model-free head explainer (as the unit explainer's ``tokens``)."""
HEAD_SCORER_KEYWORDS = "keywords"
"""Spec of the model-free head scorer (as the unit judge's ``keywords``)."""
MODEL_FREE_HEAD_SPECS = (HEAD_EXPLAINER_TOKENS, HEAD_SCORER_KEYWORDS)

NO_TERM_LABEL = "no context word is over-represented"
"""The label when no term qualifies: it quotes nothing, so the model-free scorer says No."""

_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r'"([^"]+)"')


@runtime_checkable
class HeadExplainer(Protocol):
    """Says when a head is active for a neuron, and answers whether it is on held-out snippets.

    ``active``/``inactive``/``examples`` are snippets that already end with the neuron's
    ``token``; ``score`` returns Yes (True), No (False) or None (unreadable) per example.
    """

    name: str

    def explain(self, active: Sequence[str], inactive: Sequence[str], token: str) -> str: ...

    def score(self, explanation: str, examples: Sequence[str], token: str) -> list[bool | None]: ...


class ProviderHeadExplainer:
    """The LLM path: the paper's prompts to one chat provider (explainer or scorer, or both)."""

    def __init__(self, provider: ChatProvider) -> None:
        self.provider = provider
        self.name = provider.name

    def explain(self, active: Sequence[str], inactive: Sequence[str], token: str) -> str:
        return explain_head(self.provider, active, inactive, token)

    def score(self, explanation: str, examples: Sequence[str], token: str) -> list[bool | None]:
        return score_examples(self.provider, explanation, examples, token)


def _words(snippet: str, token: str) -> list[str]:
    """The snippet's lower-cased words without the neuron's token it ends with: the label has to
    describe the context, not restate the prediction."""
    if token and snippet.endswith(token):
        snippet = snippet[: -len(token)]
    return [w.lower() for w in _WORD.findall(snippet)]


def _terms(words: Sequence[str], max_n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for n in range(1, max_n + 1) for i in range(len(words) - n + 1)}


def _contains(words: Sequence[str], term: tuple[str, ...]) -> bool:
    n = len(term)
    return any(tuple(words[i : i + n]) == term for i in range(len(words) - n + 1))


def context_terms(
    active: Sequence[str],
    inactive: Sequence[str],
    token: str,
    *,
    top: int = 3,
    max_n: int = 2,
    min_count: int = 2,
) -> list[tuple[str, float]]:
    """The ``top`` terms (1..``max_n`` consecutive words) by smoothed log-odds of occurring in an
    active snippet against an inactive one: log((a+1)/(A+2)) - log((b+1)/(B+2)) with a of A
    active and b of B inactive snippets containing the term. Counting snippets, not occurrences,
    is what the scorer's question needs ("does this snippet contain it?"). Only terms in at least
    ``min_count`` active snippets (fewer when there are fewer) and with positive log-odds count;
    the neuron's own word never does. Ties: in more active snippets, then fewer words, then
    alphabetical, so the same snippets always give the same label."""
    excluded = set(_words(token, ""))
    active_words = [_words(s, token) for s in active]
    inactive_words = [_words(s, token) for s in inactive]
    candidates = set().union(*(_terms(w, max_n) for w in active_words)) if active_words else set()
    need = min(min_count, len(active_words))
    ranked = []
    for term in candidates:
        if excluded & set(term):
            continue
        a = sum(_contains(w, term) for w in active_words)
        b = sum(_contains(w, term) for w in inactive_words)
        odds = math.log((a + 1) / (len(active_words) + 2)) - math.log(
            (b + 1) / (len(inactive_words) + 2)
        )
        if a >= need and odds > 0:
            ranked.append((-odds, -a, len(term), " ".join(term)))
    ranked.sort()
    return [(text, round(-neg, 4)) for neg, _, _, text in ranked[:top]]


def head_label(terms: Sequence[str]) -> str:
    """``context contains "X", "Y" or "Z"``: the quoted terms are what the scorer matches."""
    if not terms:
        return NO_TERM_LABEL
    quoted = [f'"{t}"' for t in terms]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"context contains {listed}"


def quoted_terms(explanation: str) -> list[tuple[str, ...]]:
    """The explanation's quoted terms as word tuples (any explanation, an LLM's too)."""
    terms = [tuple(_words(q, "")) for q in _QUOTED.findall(explanation)]
    return [t for t in terms if t]


class ContextTokensHeadExplainer:
    """The model-free floor: explains with :func:`context_terms`, scores by containment.

    ``name`` is the spec it was chosen by (``tokens`` as explainer, ``keywords`` as scorer), so a
    report says which role it played."""

    def __init__(
        self, name: str = HEAD_EXPLAINER_TOKENS, *, top: int = 3, max_n: int = 2, min_count: int = 2
    ) -> None:
        self.name = name
        self.top, self.max_n, self.min_count = top, max_n, min_count

    def explain(self, active: Sequence[str], inactive: Sequence[str], token: str) -> str:
        terms = context_terms(
            active, inactive, token, top=self.top, max_n=self.max_n, min_count=self.min_count
        )
        return head_label([t for t, _ in terms])

    def score(self, explanation: str, examples: Sequence[str], token: str) -> list[bool | None]:
        """Yes when the snippet's context (its words before the neuron's token) contains a
        quoted term as consecutive whole words; an explanation that quotes nothing gets No."""
        terms = quoted_terms(explanation)
        return [any(_contains(_words(e, token), t) for t in terms) for e in examples]
