"""Which vocabulary entries are whole words, for any tokenizer.

A token is a whole word when its raw form starts with a word-boundary marker (SentencePiece
``▁``, byte-level BPE ``Ġ``, or a plain space), its decoded text is longer than 2 characters,
contains a letter, and is not a number. Byte-level tokens of non-Latin scripts look like mojibake
in raw form, so the length and letter tests use the decoded text.
"""

from __future__ import annotations

import re
from typing import Any

import torch

__all__ = ["is_whole_word", "whole_word_mask"]

_MARKERS = ("▁", "Ġ", " ")
_NUMBER = re.compile(r"^[+-]?[\d.,_ ]+$")


def is_whole_word(raw: str, text: str) -> bool:
    if not raw.startswith(_MARKERS):
        return False
    word = text.strip()
    return len(word) > 2 and any(ch.isalpha() for ch in word) and not _NUMBER.match(word)


def whole_word_mask(tokenizer: Any, vocab_size: int) -> torch.Tensor:
    """``[vocab_size]`` bool: True for whole-word tokens (special tokens never are)."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    n = min(vocab_size, len(tokenizer))
    raw = tokenizer.convert_ids_to_tokens(list(range(n)))
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    for i, token in enumerate(raw):
        if token is None or i in special or not token.startswith(_MARKERS):
            continue
        mask[i] = is_whole_word(token, tokenizer.decode([i]))
    return mask
