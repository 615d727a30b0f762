"""The explainer's and the scorer's prompts, and reading the scorer's Yes/No back.

The shape follows Neo, Cohen & Barez (2024): the explainer sees snippets on which an attention
head is active and snippets on which it is not, each ending with the token the neuron predicts,
and says in one sentence when the head is active; a scorer then sees that sentence and one
held-out snippet at a time and answers Yes or No. Snippets are shown JSON-quoted, one per line,
so newlines and quotes inside them cannot blur where one ends and the next begins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from babellens.autointerp.provider import Message
from babellens.errors import InvalidInputError

__all__ = [
    "clean_explanation",
    "explain_messages",
    "parse_yes_no",
    "score_messages",
    "strip_markup",
]

_EXPLAIN_SYSTEM = (
    "You are an interpretability researcher. You study one attention head of a language model "
    "and describe, in plain words, the contexts in which it is active."
)
_SCORE_SYSTEM = (
    "You predict whether an attention head of a language model is active on a text snippet, "
    "given a description of when it is active. Answer with one word: Yes or No."
)
# a standalone word: no letter or digit on either side ("_" counts as markdown, not as a letter)
_YES_NO = re.compile(r"(?<![^\W_])(yes|no)(?![^\W_])", re.IGNORECASE)
_LABEL = re.compile(r"^\W*(explanation|description|answer)\W*:\s*", re.IGNORECASE)
_MARKUP = re.compile(r"\*\*|<<|>>")
"""Bold markers and the activation marks of the examples, which small explainers copy into
their answer: kept, they end up in the stored explanation and in the quoted keywords."""


def strip_markup(text: str) -> str:
    return _MARKUP.sub("", text)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _listed(examples: Sequence[str]) -> str:
    return "\n".join(f"{i}. {_quoted(text)}" for i, text in enumerate(examples, 1))


def explain_messages(active: Sequence[str], inactive: Sequence[str], token: str) -> list[Message]:
    """Ask for one sentence saying when the head is active; ``token`` ends every snippet."""
    if not active:
        raise InvalidInputError("explaining a head needs at least one example where it is active")
    user = (
        f"This attention head helps a neuron that predicts the next token {_quoted(token)}. "
        "Each snippet below is the end of a prompt followed by that token.\n\n"
        f"Snippets where the head is ACTIVE:\n{_listed(active)}\n\n"
        f"Snippets where the head is INACTIVE:\n{_listed(inactive) if inactive else '(none)'}\n\n"
        "What do the active snippets have in common that the inactive ones do not? Reply with "
        'one sentence that starts with "The head is active", and nothing else.'
    )
    return [{"role": "system", "content": _EXPLAIN_SYSTEM}, {"role": "user", "content": user}]


def score_messages(explanation: str, example: str, token: str) -> list[Message]:
    """Ask whether the head is active on one held-out snippet, given the explanation."""
    user = (
        f"Description of when the head is active: {explanation.strip()}\n\n"
        f"Snippet (it ends with the token {_quoted(token)}):\n{_quoted(example)}\n\n"
        "Is the head active on this snippet? Answer Yes or No."
    )
    return [{"role": "system", "content": _SCORE_SYSTEM}, {"role": "user", "content": user}]


def parse_yes_no(text: str) -> bool | None:
    """The first standalone "yes" or "no" in the answer (any case, around punctuation or
    markdown: "**Yes.**", "no, because..."); None when the answer has neither."""
    match = _YES_NO.search(text or "")
    if match is None:
        return None
    return match.group(1).lower() == "yes"


def clean_explanation(text: str) -> str:
    """The explainer's sentence without a leading label, markdown emphasis or wrapping quotes."""
    for line in strip_markup(text or "").splitlines():
        line = _LABEL.sub("", line.strip()).strip().strip("*_").strip()
        if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
            line = line[1:-1].strip()
        if line:
            return line
    return ""
