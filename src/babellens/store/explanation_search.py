"""Find units by their explanations: full text (words in the explanation or the marked tokens)
or by meaning (the packaged MiniLM embeds each explanation once, then cosine to the query)."""

from __future__ import annotations

from babellens.store.database import Database
from babellens.store.explanations import ExplanationHit

__all__ = ["search_explanations"]


def search_explanations(
    db: Database, model: str, query: str, *, meaning: bool = False, limit: int = 20
) -> list[ExplanationHit]:
    from babellens.store.explanations import ExplanationStore

    store = ExplanationStore(db)
    if not meaning:
        return store.search_text(model, query, limit)
    from babellens.autointerp.embedding import default_embedder

    embedder = default_embedder()
    return store.search_meaning(model, query, embedder.name, embedder, limit)
