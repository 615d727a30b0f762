"""Prompts for the safety concepts, in the model's chat format.

Refusal reads the model at the last token of the chat prompt (after the instruction, where the
answer starts: Arditi et al.'s post-instruction position). A/B questions open the answer so that
the next token is the answer letter; CAA reads the direction at that letter.

How the answer opens depends on the tokenizer. Where ``(`` and the letter are separate tokens
(Llama, SmolLM2) the prompt ends in ``(`` and the letters are ``A`` / ``B``. Qwen2's tokenizer
merges ``(A`` into one token, so the options in the question read ``(A``, ``)``: a prompt ending
in ``(`` followed by a lone ``A`` token is a sequence the model never sees in training (and
re-tokenising ``(`` + ``A`` does not give it back). There the prompt ends at the assistant turn
and the letters are the ``(A`` / ``(B`` tokens themselves.
"""

from __future__ import annotations

from typing import Any

from babellens.data.prompts import chat_prompt
from babellens.errors import InvalidInputError
from babellens.safety.data import ABItem

__all__ = ["ab_prompt", "answer_opening", "instruction_prompt", "letter_texts", "letter_token_ids"]

_BRACKET = "("


def instruction_prompt(tokenizer: Any, instruction: str) -> str:
    return chat_prompt(tokenizer, instruction)


def _one_more_token(tokenizer: Any, prompt: str, suffix: str) -> int | None:
    """The id of ``suffix`` if ``prompt + suffix`` tokenises as ``prompt``'s tokens plus one."""
    base = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full = tokenizer(prompt + suffix, add_special_tokens=False)["input_ids"]
    if len(full) == len(base) + 1 and full[: len(base)] == base:
        return int(full[-1])
    return None


def answer_opening(tokenizer: Any, chat: str) -> str:
    """``(`` where the bracket and each letter stay apart after ``chat``; ``""`` where the
    tokenizer merges ``(A`` and ``(B`` into single tokens (then the letter token includes the
    bracket)."""
    if all(_one_more_token(tokenizer, chat + _BRACKET, letter) is not None for letter in "AB"):
        return _BRACKET
    if all(_one_more_token(tokenizer, chat, _BRACKET + letter) is not None for letter in "AB"):
        return ""
    return _BRACKET  # neither: letter_token_ids says so


def ab_prompt(tokenizer: Any, item: ABItem) -> str:
    """The question with its two options as the user's turn, and the answer opened up to the
    letter (see :func:`answer_opening`)."""
    a, b = item.options()
    chat = chat_prompt(tokenizer, f"{item.question}\n\n(A) {a}\n(B) {b}")
    return chat + answer_opening(tokenizer, chat)


def letter_texts(prompt: str) -> tuple[str, str]:
    """The texts of the A and B answers that follow an :func:`ab_prompt`."""
    if prompt.endswith(_BRACKET):
        return "A", "B"
    return _BRACKET + "A", _BRACKET + "B"


def letter_token_ids(tokenizer: Any, prompt: str) -> tuple[int, int]:
    """The token ids of the A and B answers right after ``prompt`` (checked to be one token each,
    so the letter probability is one next-token probability)."""
    ids = []
    for text in letter_texts(prompt):
        found = _one_more_token(tokenizer, prompt, text)
        if found is None:
            raise InvalidInputError(
                f"this tokenizer does not give {text!r} as one token after the prompt: "
                "A/B scoring needs one token per answer letter"
            )
        ids.append(found)
    return ids[0], ids[1]
