"""Prompts in a model's own format, and the bundled parallel instructions and answers.

Languages are whatever files exist: adding ``xx.jsonl`` to the instructions folder adds language
``xx`` everywhere; nothing here lists languages.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from babellens.errors import InvalidInputError

__all__ = ["answers", "chat_prompt", "instruction_languages", "instructions"]

_INSTRUCTIONS = files("babellens.data") / "instructions"


def chat_prompt(tokenizer: Any, instruction: str) -> str:
    """The user turn in the model's chat template, ready for the answer; a plain template for base
    models. A leading BOS in the template is dropped, since tokenising adds it again."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return f"Question: {instruction}\nAnswer:"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
    )
    bos = getattr(tokenizer, "bos_token", None)
    return text[len(bos) :] if bos and text.startswith(bos) else text


def instruction_languages() -> list[str]:
    return sorted(
        p.name.removesuffix(".jsonl")
        for p in _INSTRUCTIONS.iterdir()
        if p.name.endswith(".jsonl") and p.name != "word_pairs.jsonl"
    )


def _read(folder: Any, lang: str, kind: str) -> list[dict[str, Any]]:
    path = folder / f"{lang}.jsonl"
    if not path.is_file():
        raise InvalidInputError(
            f"no bundled {kind} in language {lang!r}: available are {', '.join(instruction_languages())}"
        )
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@cache
def instructions(lang: str, split: str | None = None) -> tuple[dict[str, Any], ...]:
    rows = _read(_INSTRUCTIONS, lang, "instructions")
    return tuple(r for r in rows if split is None or r["split"] == split)


@cache
def answers(lang: str) -> tuple[dict[str, Any], ...]:
    """Reference answers (normal case) to the first training instructions, for CAPS contrasts."""
    return tuple(_read(_INSTRUCTIONS / "answers", lang, "answers"))
