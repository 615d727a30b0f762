"""Token sequences -> padded batches: one helper for every analysis, and one pad-id rule.

Padded positions are masked, so any id there computes the same values; the rule only keeps dumps
readable and ``generate`` quiet, and it is written once: the tokenizer's pad token, else its EOS
token, else 0 (:func:`resolve_pad_id`). The padding side is an argument (right for analyses, so
position ``i`` is token ``i``; left for generation, so every row continues from its own last
token), never a setting flipped on the shared tokenizer.

It lives in ``data`` because it needs a tokenizer's ids and nothing of a model, and ``data``
already owns the corpus windows it batches (:func:`babellens.data.windows.batches`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from babellens.errors import InvalidInputError

__all__ = ["PaddingSide", "TokenBatch", "pad_batch", "resolve_pad_id", "token_batches"]

PaddingSide = Literal["right", "left"]


def resolve_pad_id(tokenizer: Any) -> int:
    """The id padded positions hold: ``pad_token_id``, else ``eos_token_id``, else 0."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None) if tokenizer is not None else None
        if value is not None:
            return int(value)
    return 0


@dataclass(frozen=True)
class TokenBatch:
    rows: list[int]  # positions of the batch's sequences in the input
    input_ids: torch.Tensor  # [batch, longest]
    attention_mask: torch.Tensor  # [batch, longest]


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, *, side: PaddingSide = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` ``[batch, longest]``, padded on ``side``."""
    if side not in ("right", "left"):
        raise InvalidInputError(f"unknown padding side {side!r}: use right or left")
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, seq in enumerate(sequences):
        span = slice(0, len(seq)) if side == "right" else slice(longest - len(seq), longest)
        ids[row, span] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, span] = 1
    return ids, mask


def _budget_end(lengths: Sequence[int], i: int, tokens_per_batch: int) -> int:
    """One past the last sequence from ``i`` on whose padded batch fits the budget (at least one)."""
    longest, j = lengths[i], i + 1
    while j < len(lengths) and max(longest, lengths[j]) * (j - i + 1) <= tokens_per_batch:
        longest = max(longest, lengths[j])
        j += 1
    return j


def token_batches(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    *,
    tokens_per_batch: int | None = None,
    batch_size: int | None = None,
    by_length: bool = False,
    side: PaddingSide = "right",
    start: int = 0,
) -> Iterator[TokenBatch]:
    """Padded batches of ``sequences`` from ``start`` on, sized by a token budget (``longest ×
    rows <= tokens_per_batch``, at least one row) or by ``batch_size`` rows.

    ``by_length`` sorts shortest first, so padding stays small; otherwise sequences stay in
    order, so batch boundaries (and a resumed scan's) are the same on every run.
    """
    if (tokens_per_batch is None) == (batch_size is None):
        raise InvalidInputError("give a token budget or a batch size, not both or neither")
    if batch_size is not None and batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    if any(len(s) == 0 for s in sequences):
        raise InvalidInputError("a token sequence is empty: every prompt needs at least one token")
    order = list(range(start, len(sequences)))
    if by_length:
        order.sort(key=lambda i: len(sequences[i]))
    lengths = [len(sequences[i]) for i in order]
    i = 0
    while i < len(order):
        if batch_size is not None:
            j = min(i + batch_size, len(order))
        else:
            j = _budget_end(lengths, i, tokens_per_batch)  # type: ignore[arg-type]
        rows = order[i:j]
        ids, mask = pad_batch([sequences[r] for r in rows], pad_id, side=side)
        yield TokenBatch(rows, ids, mask)
        i = j
