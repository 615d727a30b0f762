"""Corpora and tokenised windows."""

from babellens.data.corpus import BUNDLED_CORPUS, Corpus, CorpusError, Document, load_corpus
from babellens.data.windows import Window, WindowBatch, batches, make_windows, uses_bos

__all__ = [
    "BUNDLED_CORPUS",
    "Corpus",
    "CorpusError",
    "Document",
    "Window",
    "WindowBatch",
    "batches",
    "load_corpus",
    "make_windows",
    "uses_bos",
]
