"""Corpora and tokenised windows."""

from babellens.data.batching import (
    PaddingSide,
    TokenBatch,
    pad_batch,
    resolve_pad_id,
    token_batches,
)
from babellens.data.corpus import BUNDLED_CORPUS, Corpus, CorpusError, Document, load_corpus
from babellens.data.windows import Window, WindowBatch, batches, make_windows, uses_bos

__all__ = [
    "BUNDLED_CORPUS",
    "Corpus",
    "CorpusError",
    "Document",
    "PaddingSide",
    "TokenBatch",
    "Window",
    "WindowBatch",
    "batches",
    "load_corpus",
    "make_windows",
    "pad_batch",
    "resolve_pad_id",
    "token_batches",
    "uses_bos",
]
