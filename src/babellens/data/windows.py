"""Fixed-length token windows that remember their document and offsets, batched by token budget."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from babellens.data.batching import token_batches
from babellens.data.corpus import Corpus
from babellens.errors import InvalidInputError

__all__ = ["Window", "WindowBatch", "batches", "make_windows", "uses_bos"]


@dataclass(frozen=True)
class Window:
    """Tokens ``[start, start + len)`` of document ``doc_index`` (BOS, if any, comes first)."""

    index: int
    doc_index: int
    start: int
    token_ids: tuple[int, ...]
    has_bos: bool

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class WindowBatch:
    indices: torch.Tensor  # [batch] window indices
    input_ids: torch.Tensor  # [batch, pos], right-padded
    attention_mask: torch.Tensor  # [batch, pos]


def uses_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts a BOS token in front of a text by default."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def make_windows(
    corpus: Corpus, tokenizer: Any, *, window_len: int = 128, max_tokens: int | None = None
) -> list[Window]:
    """Cut every document into windows of ``window_len`` tokens (the last one of a doc shorter)."""
    if window_len < 2:
        raise InvalidInputError("window length must be at least 2 tokens")
    bos = uses_bos(tokenizer)
    body = window_len - 1 if bos else window_len
    windows: list[Window] = []
    total = 0
    for doc_index, doc in enumerate(corpus.documents):
        ids = tokenizer(doc.text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), body):
            chunk = tuple(ids[start : start + body])
            if max_tokens is not None and total + len(chunk) > max_tokens:
                chunk = chunk[: max_tokens - total]
            if not chunk:
                return windows
            token_ids = ((tokenizer.bos_token_id,) if bos else ()) + chunk
            windows.append(Window(len(windows), doc_index, start, token_ids, bos))
            total += len(chunk)
            if max_tokens is not None and total >= max_tokens:
                return windows
    return windows


def batches(
    windows: Sequence[Window], *, tokens_per_batch: int = 1024, pad_id: int = 0, start: int = 0
) -> Iterator[WindowBatch]:
    """Consecutive windows from ``start``, as many per batch as fit ``tokens_per_batch``
    (right-padded with ``pad_id``; see :func:`babellens.data.batching.token_batches`)."""
    sequences = [w.token_ids for w in windows]
    for batch in token_batches(sequences, pad_id, tokens_per_batch=tokens_per_batch, start=start):
        indices = torch.tensor([windows[r].index for r in batch.rows])
        yield WindowBatch(indices, batch.input_ids, batch.attention_mask)
