"""Prompts for the safety concepts, in the model's chat format.

Refusal reads the model at the last token of the chat prompt (after the instruction, where the
answer starts: Arditi et al.'s post-instruction position). A/B questions end in ``(`` inside the
answer, so the next token is the letter; CAA reads the direction at that letter.
"""

from __future__ import annotations

from typing import Any

from babellens.data.prompts import chat_prompt
from babellens.errors import InvalidInputError
from babellens.safety.data import ABItem

__all__ = ["ab_prompt", "instruction_prompt", "letter_token_ids"]


def instruction_prompt(tokenizer: Any, instruction: str) -> str:
    return chat_prompt(tokenizer, instruction)


def ab_prompt(tokenizer: Any, item: ABItem) -> str:
    """The question with its two options as the user's turn, and the answer opened with ``(``."""
    a, b = item.options()
    return chat_prompt(tokenizer, f"{item.question}\n\n(A) {a}\n(B) {b}") + "("


def letter_token_ids(tokenizer: Any, prompt: str) -> tuple[int, int]:
    """The token ids of ``A`` and ``B`` right after ``prompt`` (checked to be one token each, so
    the letter probability is one next-token probability)."""
    base = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = []
    for letter in "AB":
        full = tokenizer(prompt + letter, add_special_tokens=False)["input_ids"]
        if len(full) != len(base) + 1 or full[: len(base)] != base:
            raise InvalidInputError(
                f"this tokenizer does not give {letter!r} after '(' as one token: A/B scoring needs it"
            )
        ids.append(full[-1])
    return ids[0], ids[1]
