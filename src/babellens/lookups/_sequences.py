"""Lists of token ids -> right-padded batches, grouped by length so padding stays small."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from babellens.errors import InvalidInputError
from babellens.models.language_model import LanguageModel

__all__: list[str] = []


def _pad_id(lm: LanguageModel) -> int:
    """Any id works under the attention mask; the tokenizer's pad id keeps dumps readable."""
    pad = getattr(lm.tokenizer, "pad_token_id", None) if lm.tokenizer is not None else None
    return int(pad) if pad is not None else 0


def _pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` ``[batch, longest]``, right-padded."""
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def _check_sequences(sequences: Sequence[Sequence[int]], batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    if any(len(s) == 0 for s in sequences):
        raise InvalidInputError("a token sequence is empty: every prompt needs at least one token")


def _length_batches(
    sequences: Sequence[Sequence[int]], batch_size: int, pad_id: int
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """``(original indices, input_ids, attention_mask)`` per batch, shortest sequences first."""
    _check_sequences(sequences, batch_size)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = _pad([sequences[i] for i in chunk], pad_id)
        yield chunk, ids, mask
