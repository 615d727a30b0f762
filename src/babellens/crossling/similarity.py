"""Is the concept the same direction in every language? Concept vectors per language and layer.

For each language the behaviour's contrast (for CAPS: the same bundled answers in ALL CAPS versus
normal case, after the model's chat prompt, read as the mean over the answer tokens) gives one
difference-of-means vector per layer. Their cosine similarity, language x language, per layer, is
compared with a shuffled-label control: the same pairs with positive and negative swapped at
random per pair (half of them, drawn per language). Shuffled vectors carry no concept, so their
cosines show how high two directions built from this much data score by chance.

Activations are read once per language; the real and the shuffled vectors both come from them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch
from pydantic import BaseModel, Field

from babellens.capture.language_model import LanguageModel
from babellens.steering.build import join, read_activations
from babellens.steering.concepts import get_concept
from babellens.steering.vector import SteeringVector, VectorInfo

__all__ = [
    "ConceptSimilarity",
    "LanguageVectors",
    "concept_similarity",
    "control_signs",
    "cosine_matrix",
    "language_vectors",
]


class LanguageVectors(BaseModel):
    """One language's concept vector and its shuffled-label control, at every layer."""

    model_config = {"arbitrary_types_allowed": True}

    lang: str
    vector: SteeringVector
    shuffled: dict[int, torch.Tensor]


class ConceptSimilarity(BaseModel):
    concept: str = Field(description="Concept family, e.g. caps (vectors caps-LANG)")
    langs: list[str]
    layers: list[int]
    pairs: int = Field(description="Contrast pairs per language")
    cosine: dict[int, list[list[float]]] = Field(description="Per layer, langs x langs")
    control: dict[int, list[list[float]]] = Field(description="Same, shuffled-label vectors")
    norms: dict[str, dict[int, float]] = Field(description="Vector norm per language and layer")


def cosine_matrix(vectors: Sequence[torch.Tensor]) -> list[list[float]]:
    """Pairwise cosine similarities (float64): symmetric, with ones on the diagonal."""
    stacked = torch.stack([v.double() for v in vectors])
    unit = stacked / stacked.norm(dim=1, keepdim=True).clamp_min(1e-30)
    sims = unit @ unit.T
    sims = (sims + sims.T) / 2
    sims.fill_diagonal_(1.0)
    return sims.tolist()


def control_signs(n: int, seed: int, lang: str) -> torch.Tensor:
    """+1/-1 per pair: half the pairs flipped, at random, drawn afresh for each language.

    Balanced, so a concept shared by every pair cancels exactly instead of leaking in with a
    random weight; independent per language, so the parallel data (pair i has the same content
    in every language) do not give two languages the same control vector. An odd count leaves
    its last pair out (sign 0): with 7 pairs, 3 flipped and 4 kept would leave 1/7 of the
    concept itself in every language's control, with the same sign everywhere.
    """
    even = n - n % 2
    rng = random.Random(f"{seed}:{lang}")
    flipped = set(rng.sample(range(even), even // 2))
    signs = [-1.0 if i in flipped else 1.0 for i in range(even)]
    return torch.tensor(signs + [0.0] * (n - even))


def language_vectors(
    lm: LanguageModel,
    concept: str,
    lang: str,
    layers: Sequence[int],
    *,
    pairs: int = 40,
    seed: int = 0,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> LanguageVectors:
    """The ``CONCEPT-LANG`` vector at ``layers`` and its shuffled-label twin."""
    entry = get_concept(f"{concept}-{lang}")
    contrast = entry.contrast(lm.tokenizer).head(pairs).check()
    prompts = [p.prompt for p in contrast.pairs]
    texts = [join(p.prompt, p.positive) for p in contrast.pairs] + [
        join(p.prompt, p.negative) for p in contrast.pairs
    ]
    with torch.inference_mode():
        acts = read_activations(
            lm, texts, prompts + prompts, layers, entry.read, batch_size, progress
        )
    n = len(contrast.pairs)
    signs = control_signs(n, seed, lang)
    directions, shuffled = {}, {}
    for layer in layers:
        diffs = acts[layer][:n] - acts[layer][n:]
        directions[layer] = diffs.mean(0)
        shuffled[layer] = (signs[:, None] * diffs).mean(0)
    info = VectorInfo(
        name=contrast.name,
        model=lm.name,
        method="mean_diff",
        read=entry.read,
        layers=sorted(layers),
        d_model=lm.adapter.d_model,
        data=contrast.name,
        n_examples=n,
        norms={layer: float(v.norm()) for layer, v in directions.items()},
    )
    return LanguageVectors(
        lang=lang, vector=SteeringVector(info=info, directions=directions), shuffled=shuffled
    )


def concept_similarity(concept: str, vectors: Sequence[LanguageVectors]) -> ConceptSimilarity:
    """Language x language cosine per layer, for the real and the shuffled-label vectors."""
    layers = sorted(set.intersection(*(set(v.vector.directions) for v in vectors)))
    return ConceptSimilarity(
        concept=concept,
        langs=[v.lang for v in vectors],
        layers=layers,
        pairs=min(v.vector.info.n_examples for v in vectors),
        cosine={
            layer: cosine_matrix([v.vector.directions[layer] for v in vectors]) for layer in layers
        },
        control={layer: cosine_matrix([v.shuffled[layer] for v in vectors]) for layer in layers},
        norms={
            v.lang: {layer: round(v.vector.info.norms[layer], 4) for layer in layers}
            for v in vectors
        },
    )
