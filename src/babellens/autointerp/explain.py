"""Explain a head with one provider, score the explanation with another.

Kept apart from the prompt text so the pipeline can swap either side: the explainer is asked
once per head, the scorer once per held-out example (in one ``complete_many`` batch, which the
``openai`` provider runs concurrently and the ``local`` one batches on the model).
"""

from __future__ import annotations

from collections.abc import Sequence

from babellens.autointerp.prompts import (
    clean_explanation,
    explain_messages,
    parse_yes_no,
    score_messages,
)
from babellens.autointerp.provider import ChatProvider, ProviderError

__all__ = ["explain_head", "score_examples"]


def explain_head(
    provider: ChatProvider,
    active: Sequence[str],
    inactive: Sequence[str],
    token: str,
    *,
    max_tokens: int = 120,
    temperature: float = 0.0,
) -> str:
    """One sentence saying when the head is active. ``active``/``inactive``: snippets that already
    end with the neuron's ``token``. An empty answer is an error, not an explanation."""
    answer = provider.complete(
        explain_messages(active, inactive, token), max_tokens=max_tokens, temperature=temperature
    )
    explanation = clean_explanation(answer)
    if not explanation:
        raise ProviderError(f"{provider.name} returned no explanation (answer: {answer!r})")
    return explanation


def score_examples(
    provider: ChatProvider,
    explanation: str,
    examples: Sequence[str],
    token: str,
    *,
    max_tokens: int = 8,
) -> list[bool | None]:
    """The scorer's Yes (True) / No (False) per example; None where the answer has neither word.

    Greedy (temperature 0): the score of an explanation should not change from run to run.
    """
    if not examples:
        return []
    batch = [score_messages(explanation, example, token) for example in examples]
    answers = provider.complete_many(batch, max_tokens=max_tokens, temperature=0.0)
    return [parse_yes_no(answer) for answer in answers]
