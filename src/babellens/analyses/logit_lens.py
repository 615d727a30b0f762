"""Logit lens per language (as in Wendler et al., "Do Llamas Work in English?", 2024).

A few-shot word-translation prompt from language A to language B ends just before the answer; at
every layer the residual stream at the last position is read through the final norm and the
unembedding, and we record the probability of the correct word's first token in B and of its
English equivalent's first token. If the middle layers favour English before the last ones switch
to B, the model's latent language is English.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from functools import cache
from importlib.resources import files

import torch
from pydantic import BaseModel, Field

from babellens.capture.language_model import LanguageModel
from babellens.capture.reductions import last_position
from babellens.errors import InvalidInputError

__all__ = [
    "LensLayer",
    "LogitLensConfig",
    "LogitLensResult",
    "lens_probabilities",
    "logit_lens",
    "translation_prompts",
]

# Labels only; any language code works.
_NAMES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "ru": "Русский",
    "bg": "Български",
    "zh": "中文",
    "ja": "日本語",
}


class LogitLensConfig(BaseModel):
    source: str = "fr"
    target: str = "zh"
    words: int = Field(40, ge=1, le=1000, description="Translation prompts (one per word)")
    shots: int = Field(4, ge=0, le=10, description="Solved examples before the asked word")
    seed: int = 0
    batch_size: int = Field(16, ge=1, le=512)


class LensLayer(BaseModel):
    layer: int
    p_target: float = Field(description="Mean probability of the correct word's first token")
    p_english: float | None = Field(
        description="Mean probability of the English word's first token (None when the target is English)"
    )


class LogitLensResult(BaseModel):
    model: str
    source: str
    target: str
    prompts: int
    skipped: int = Field(
        description="Words whose target and English first tokens coincide (ambiguous)"
    )
    layers: list[LensLayer]
    example_prompt: str


@cache
def _word_pairs() -> tuple[dict[str, str], ...]:
    path = files("babellens.data") / "instructions" / "word_pairs.jsonl"
    return tuple(
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    )


def translation_prompts(
    source: str, target: str, words: int, shots: int, seed: int = 0
) -> list[tuple[str, dict[str, str]]]:
    """``(prompt, word)`` pairs: ``shots`` solved examples, then the word to translate."""
    pairs = [p for p in _word_pairs() if source in p and target in p and "en" in p]
    if len(pairs) < shots + 1:
        raise InvalidInputError(
            f"no bundled word pairs for {source}->{target}: languages are the keys of word_pairs.jsonl"
        )
    rng = random.Random(seed)
    a, b = _NAMES.get(source, source), _NAMES.get(target, target)
    out = []
    for word in pairs[:words]:
        examples = rng.sample([p for p in pairs if p is not word], shots)
        lines = [f'{a}: "{e[source]}" - {b}: "{e[target]}"' for e in examples]
        out.append(("\n".join([*lines, f'{a}: "{word[source]}" - {b}: "']), word))
    return out


def _first_token(tokenizer, text: str) -> int:
    return tokenizer(text, add_special_tokens=False)["input_ids"][0]


def lens_probabilities(
    lm: LanguageModel, texts: Sequence[str], layers: Sequence[int]
) -> torch.Tensor:
    """``[layers, texts, vocab]``: the next-token distribution read off each layer's residual stream
    at the last real token (final norm, unembedding, Gemma-2's soft-cap when the model has one)."""
    points = [f"resid_post.{layer}" for layer in layers]
    with torch.inference_mode():
        out = lm.run(lm.tokenize(list(texts)), capture=points, reduce=last_position)
        probs = [torch.softmax(lm.unembed(out[p]).float(), dim=-1).cpu() for p in points]
    return torch.stack(probs)


def logit_lens(
    lm: LanguageModel, config: LogitLensConfig, progress: Callable[[int, int], None] | None = None
) -> LogitLensResult:
    prompts = translation_prompts(
        config.source, config.target, config.words, config.shots, config.seed
    )
    tok = lm.tokenizer
    kept = []
    for text, word in prompts:
        target = _first_token(tok, word[config.target])
        english = None if config.target == "en" else _first_token(tok, word["en"])
        if english is not None and english == target:
            continue  # the lens could not tell the two apart
        kept.append((text, target, english))
    if not kept:
        raise InvalidInputError(
            "every word's target and English first tokens coincide for this model: pick another pair"
        )
    layers = list(range(lm.adapter.n_layers))
    p_target = torch.zeros(len(layers))
    p_english = torch.zeros(len(layers))
    for start in range(0, len(kept), config.batch_size):
        chunk = kept[start : start + config.batch_size]
        probs = lens_probabilities(lm, [t for t, _, _ in chunk], layers)
        rows = torch.arange(len(chunk))
        p_target += probs[:, rows, torch.tensor([t for _, t, _ in chunk])].sum(1)
        if config.target != "en":
            p_english += probs[:, rows, torch.tensor([e for _, _, e in chunk])].sum(1)
        if progress is not None:
            progress(min(start + config.batch_size, len(kept)), len(kept))
    n = len(kept)
    rows = [
        LensLayer(
            layer=layer,
            p_target=float(p_target[i] / n),
            p_english=None if config.target == "en" else float(p_english[i] / n),
        )
        for i, layer in enumerate(layers)
    ]
    return LogitLensResult(
        model=lm.name,
        source=config.source,
        target=config.target,
        prompts=n,
        skipped=len(prompts) - n,
        layers=rows,
        example_prompt=kept[0][0],
    )
