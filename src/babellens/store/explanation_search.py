"""Find units by their explanations: full text (words in the explanation or the marked tokens)
or by meaning (an embedder embeds each explanation once, then cosine to the query).

The embedder is the caller's (the front ends pass the packaged MiniLM,
:func:`babellens.autointerp.embedding.default_embedder`): the store keeps vectors and never runs
a model itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from babellens.store.database import Database
from babellens.store.explanations import ExplanationHit, ExplanationStore

__all__ = ["NamedEmbedder", "search_explanations"]


class NamedEmbedder(Protocol):
    """An embedding function with the name its vectors are stored under."""

    name: str

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


def search_explanations(
    db: Database,
    model: str,
    query: str,
    *,
    embedder: NamedEmbedder | None = None,
    limit: int = 20,
) -> list[ExplanationHit]:
    """Full-text search without an embedder; search by meaning with one."""
    store = ExplanationStore(db)
    if embedder is None:
        return store.search_text(model, query, limit)
    return store.search_meaning(model, query, embedder.name, embedder, limit)
