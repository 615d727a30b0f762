"""Token strings a person can read.

Decoding each token on its own splits multi-byte characters (Cyrillic, CJK, emoji in byte-level
BPE) into replacement characters. :func:`token_pieces` decodes such runs together and gives the
text to the token that completes the character, the others an empty string, so that joining the
pieces gives back the decoded text and every token keeps its own activation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["token_pieces"]

_REPLACEMENT = "\ufffd"
_MAX_RUN = 8  # a UTF-8 character spans at most 4 bytes; byte tokens rarely run longer


def token_pieces(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    ids = [int(i) for i in ids]
    pieces = [tokenizer.decode([i]) for i in ids]
    i = 0
    while i < len(ids):
        if _REPLACEMENT not in pieces[i]:
            i += 1
            continue
        for end in range(i + 2, min(i + _MAX_RUN, len(ids)) + 1):
            joined = tokenizer.decode(ids[i:end])
            if _REPLACEMENT not in joined:
                pieces[i : end - 1] = [""] * (end - 1 - i)
                pieces[end - 1] = joined
                i = end
                break
        else:
            i += 1  # a genuinely broken byte (or the window cut a character): keep it as it is
    return pieces
