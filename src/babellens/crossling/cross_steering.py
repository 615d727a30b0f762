"""Can one language's concept vector steer another language, and can steering fix weak transfer?

Two measurements, both as behaviour rates with bootstrap intervals:
- dose-response per evaluation language, for the reference language's vector (English by
  default) and for the language's own vector, on the base model;
- on a fine-tuned model, the languages where the behaviour transferred least, unsteered and
  steered, to see whether steering recovers what fine-tuning did not carry over.

Vectors act at one layer (the one nearest 30% of the depth unless configured), as in the
steering module: adding a full vector at many layers multiplies its effect and breaks the text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, Field

from babellens.capture.language_model import LanguageModel
from babellens.crossling.rates import (
    BehaviourRate,
    Cell,
    RateConfig,
    Steering,
    behaviour_rates,
)
from babellens.steering.vector import SteeringVector

__all__ = ["DoseCurve", "Recovery", "dose_curves", "recovery", "weakest_languages"]


class DoseCurve(BaseModel):
    lang: str = Field(description="Language the model answers in")
    vector_lang: str = Field(description="Language whose concept vector steers")
    layer: int
    coefficients: list[float]
    rates: list[BehaviourRate]


class Recovery(BaseModel):
    adapter_lang: str = Field(description="Training language of the fine-tuned model")
    lang: str
    vector_lang: str
    coefficient: float
    layer: int
    before: BehaviourRate
    after: BehaviourRate
    recovered: bool = Field(description="The steered interval lies wholly above the unsteered one")


def dose_curves(
    lm: LanguageModel,
    vectors: Mapping[str, SteeringVector],
    langs: Sequence[str],
    metric: Callable[[str], float],
    config: RateConfig,
    *,
    layer: int,
    coefficients: Sequence[float],
    reference: str = "en",
) -> list[DoseCurve]:
    """Per language, the reference vector's curve and the language's own, every point of every
    language answered in shared batches (coefficient 0, the unsteered model, is measured once per
    language and shared by both of its curves)."""
    sources = {
        lang: [s for s in dict.fromkeys([reference, lang]) if s in vectors] for lang in langs
    }
    cells: list[Cell] = []
    for lang in langs:
        if sources[lang]:
            cells += [
                (lang, Steering(vectors[s], c, (layer,)))
                for s in sources[lang]
                for c in coefficients
                if c != 0
            ]
            cells += [(lang, None)] if 0 in coefficients else []
    rates = iter(behaviour_rates(lm, cells, metric, config))
    curves = []
    for lang in langs:
        if not sources[lang]:
            continue
        points = {(s, c): next(rates) for s in sources[lang] for c in coefficients if c != 0}
        zero = next(rates) if 0 in coefficients else None
        curves += [
            DoseCurve(
                lang=lang,
                vector_lang=s,
                layer=layer,
                coefficients=list(coefficients),
                rates=[points[(s, c)] if c != 0 else zero for c in coefficients],
            )
            for s in sources[lang]
        ]
    return curves


def weakest_languages(transfer: Mapping[str, float], exclude: str, k: int) -> list[str]:
    """The ``k`` evaluation languages with the lowest baseline-corrected transfer."""
    ranked = sorted((value, lang) for lang, value in transfer.items() if lang != exclude)
    return [lang for _value, lang in ranked[:k]]


def recovery(
    lm: LanguageModel,
    adapter_lang: str,
    before: Mapping[str, BehaviourRate],
    vectors: Mapping[str, SteeringVector],
    langs: Sequence[str],
    metric: Callable[[str], float],
    config: RateConfig,
    *,
    layer: int,
    coefficient: float,
    reference: str = "en",
) -> list[Recovery]:
    """Steer the fine-tuned ``lm`` in ``langs`` with the reference and the language's own vector
    (all languages and vectors answered in shared batches)."""
    pairs = [
        (lang, source)
        for lang in langs
        for source in dict.fromkeys([reference, lang])
        if source in vectors
    ]
    cells: list[Cell] = [
        (lang, Steering(vectors[source], coefficient, (layer,))) for lang, source in pairs
    ]
    steered = behaviour_rates(lm, cells, metric, config)
    return [
        Recovery(
            adapter_lang=adapter_lang,
            lang=lang,
            vector_lang=source,
            coefficient=coefficient,
            layer=layer,
            before=before[lang],
            after=after,
            recovered=after.low > before[lang].high,
        )
        for (lang, source), after in zip(pairs, steered, strict=True)
    ]
