"""Concept directions per language and layer: difference of means at the last token.

Refusal: harmful minus harmless instructions at the last token of the chat prompt. A/B concepts:
the question followed by the matching letter minus the same question followed by the other
letter, at the letter (CAA). The reading is the steering module's (``read_activations``,
``read="last"``), so a direction here is exactly ``steering.build`` on the same contrast set; the
shuffled-label control flips half the pairs per language (the cross-lingual module's signs).

The layer is chosen on the training split alone: for each candidate layer a direction built on
one half of the training pairs separates the other half (projection difference over the pooled
spread, Cohen's d), averaged over both halves and over languages; the best layer wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict

from babellens.capture.language_model import LanguageModel
from babellens.crossling.similarity import control_signs
from babellens.safety.data import ConceptData, Split
from babellens.safety.prompts import ab_prompt, instruction_prompt, letter_texts
from babellens.steering.build import read_activations
from babellens.steering.contrast import ContrastSet

__all__ = ["LanguageDirections", "contrast_set", "held_out_separation", "language_directions"]


def contrast_set(
    lm: LanguageModel, data: ConceptData, split: Split, n: int | None = None
) -> ContrastSet:
    """The concept's positives and negatives (item by item, so also paired) in ``lm``'s format."""
    items = data.split(split)[:n]
    if data.kind == "instructions":
        positives = [instruction_prompt(lm.tokenizer, i.harmful) for i in items]
        negatives = [instruction_prompt(lm.tokenizer, i.harmless) for i in items]
    else:
        prompts = [ab_prompt(lm.tokenizer, i) for i in items]
        positives = [p + _answer(p, i.matching_letter) for p, i in zip(prompts, items, strict=True)]
        negatives = [p + _answer(p, i.other_letter) for p, i in zip(prompts, items, strict=True)]
    return ContrastSet(name=f"{data.name}-{data.lang}", positives=positives, negatives=negatives)


def _answer(prompt: str, letter: str) -> str:
    """The answer text of ``letter`` after ``prompt`` (``A`` after ``(``, else ``(A``)."""
    return letter_texts(prompt)["AB".index(letter)]


class LanguageDirections(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    lang: str
    directions: dict[int, torch.Tensor]
    shuffled: dict[int, torch.Tensor]
    separation: dict[int, float]
    pairs: int


def held_out_separation(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """Cohen's d of the held-out projections, two folds. Folds take pairs two by two (0, 1 | 2, 3
    | ...) so each holds both answer letters: A/B items alternate their letter by id, and a fold
    of one letter would learn "A minus B" and meet "B minus A"."""
    n = len(pos)
    index = torch.arange(n)
    folds = [index[(index // 2) % 2 == 0], index[(index // 2) % 2 == 1]]
    scores = []
    for fit, held in (folds, folds[::-1]):
        direction = pos[fit].mean(0) - neg[fit].mean(0)
        unit = direction / direction.norm().clamp_min(1e-12)
        p, q = pos[held] @ unit, neg[held] @ unit
        spread = torch.sqrt((p.var(unbiased=False) + q.var(unbiased=False)) / 2).clamp_min(1e-12)
        scores.append(float((p.mean() - q.mean()) / spread))
    return sum(scores) / len(scores)


def _control_signs(data: ConceptData, pairs: int, seed: int) -> torch.Tensor:
    """+1/-1 per pair, half flipped at random (the cross-lingual module's signs), with the sum
    exactly zero; 0 leaves a pair out of the control.

    For A/B items half of *each letter's* pairs: the matching letter alternates with the id, so
    each pair's difference also carries "A minus B" or "B minus A"; flipping at random across
    letters would leave that letter direction in the control. A group of odd size leaves its last
    pair out: with 7 pairs, 3 flipped and 4 kept would leave 1/7 of the concept direction itself
    in every language's control (the same sign everywhere) and pull the control cosines up."""
    groups = (
        [list(range(pairs))] if data.kind != "ab" else [list(range(p, pairs, 2)) for p in (0, 1)]
    )
    signs = torch.zeros(pairs)
    for parity, group in enumerate(groups):
        tag = data.lang if data.kind != "ab" else f"{data.lang}:{parity}"
        signs[group] = control_signs(len(group), seed, tag)
    return signs


def language_directions(
    lm: LanguageModel,
    data: ConceptData,
    layers: Sequence[int],
    *,
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> LanguageDirections:
    """Directions, shuffled-label controls and held-out separations at ``layers`` (train split)."""
    contrast = contrast_set(lm, data, "train", n).check()
    texts = contrast.positives + contrast.negatives
    with torch.inference_mode():
        acts = read_activations(lm, texts, None, list(layers), "last", batch_size, progress)
    pairs = len(contrast.positives)
    signs = _control_signs(data, pairs, seed)
    directions, shuffled, separation = {}, {}, {}
    for layer in layers:
        pos, neg = acts[layer][:pairs].double(), acts[layer][pairs:].double()
        directions[layer] = (pos.mean(0) - neg.mean(0)).float()
        shuffled[layer] = (signs[:, None].double() * (pos - neg)).mean(0).float()
        separation[layer] = held_out_separation(pos, neg)
    return LanguageDirections(
        lang=data.lang, directions=directions, shuffled=shuffled, separation=separation, pairs=pairs
    )
