"""Prompts for explaining and scoring a unit (a neuron or a feature), after Delphi's defaults.

The explainer sees activating examples with the activating tokens between ``<<`` and ``>>`` and
answers with one short phrase. The detection scorer sees the phrase and one unmarked example
(does the unit fire anywhere in it?); the fuzzing scorer sees one example with some tokens
marked (are the marked tokens the ones the phrase describes?). One example per request, so a
scorer's answer can never depend on the examples next to it. Examples are JSON-quoted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from babellens.autointerp.provider import Message
from babellens.errors import InvalidInputError

__all__ = [
    "UNIT_PROMPT_VERSION",
    "detection_messages",
    "fuzz_messages",
    "unit_explain_messages",
]

UNIT_PROMPT_VERSION = "unit-v1"
"""Stored with every explanation and score: a change to the text below changes this."""

_EXPLAIN_SYSTEM = (
    "You are an interpretability researcher explaining one unit (a neuron or a feature) of a "
    "language model from text examples where it is active."
)
_JUDGE_SYSTEM = (
    "You check an explanation of a language-model unit against a text example. "
    "Answer with one word: Yes or No."
)


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def unit_explain_messages(marked_examples: Sequence[str]) -> list[Message]:
    """Ask for a short phrase describing what the ``<<marked>>`` tokens have in common."""
    if not marked_examples:
        raise InvalidInputError("explaining a unit needs at least one activating example")
    listed = "\n".join(f"{i}. {_q(text)}" for i, text in enumerate(marked_examples, 1))
    user = (
        "Each example below is a piece of text where the unit is active; the tokens on which it "
        "is most active are between << and >>.\n\n"
        f"{listed}\n\n"
        "What do the marked tokens and their contexts have in common? Reply with one short "
        "phrase (at most 15 words), quoting characteristic tokens in double quotes, and nothing else."
    )
    return [{"role": "system", "content": _EXPLAIN_SYSTEM}, {"role": "user", "content": user}]


def detection_messages(explanation: str, text: str) -> list[Message]:
    """Would a unit with this explanation be active somewhere in this text?"""
    user = (
        f"Explanation of the unit: {explanation.strip()}\n\n"
        f"Text: {_q(text)}\n\n"
        "Is the unit active on some token of this text? Answer Yes or No."
    )
    return [{"role": "system", "content": _JUDGE_SYSTEM}, {"role": "user", "content": user}]


def fuzz_messages(explanation: str, marked_text: str) -> list[Message]:
    """Are the tokens between << >> the ones this explanation describes?"""
    user = (
        f"Explanation of the unit: {explanation.strip()}\n\n"
        f"Text with some tokens marked between << and >>: {_q(marked_text)}\n\n"
        "Are the marked tokens the ones on which this unit is active? Answer Yes or No."
    )
    return [{"role": "system", "content": _JUDGE_SYSTEM}, {"role": "user", "content": user}]
