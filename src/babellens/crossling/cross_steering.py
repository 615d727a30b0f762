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

from babellens.crossling.rates import BehaviourRate, RateConfig, Steering, behaviour_rates
from babellens.models.language_model import LanguageModel
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


def dose_curves(lm: LanguageModel, vectors: Mapping[str, SteeringVector], langs: Sequence[str],
                metric: Callable[[str], float], config: RateConfig, *, layer: int,
                coefficients: Sequence[float], reference: str = "en",
                tick: Callable[[str], None] | None = None) -> list[DoseCurve]:  # fmt: skip
    """Per language, the reference vector's curve and the language's own, every point answered in
    shared batches (coefficient 0, the unsteered model, is measured once and shared by both)."""
    curves = []
    for lang in langs:
        if tick is not None:
            tick(f"steering {lang}")
        sources = [s for s in dict.fromkeys([reference, lang]) if s in vectors]
        if not sources:
            continue
        points = [(s, c) for s in sources for c in coefficients if c != 0]
        conditions: list[Steering | None] = [Steering(vectors[s], c, (layer,)) for s, c in points]
        measured = behaviour_rates(
            lm, lang, metric, config, conditions + [None] * (0 in coefficients)
        )
        rates = dict(zip(points, measured, strict=False))
        curves += [DoseCurve(lang=lang, vector_lang=s, layer=layer, coefficients=list(coefficients),
                             rates=[rates[(s, c)] if c != 0 else measured[-1] for c in coefficients])
                   for s in sources]  # fmt: skip
    return curves


def weakest_languages(transfer: Mapping[str, float], exclude: str, k: int) -> list[str]:
    """The ``k`` evaluation languages with the lowest baseline-corrected transfer."""
    ranked = sorted((value, lang) for lang, value in transfer.items() if lang != exclude)
    return [lang for _value, lang in ranked[:k]]


def recovery(lm: LanguageModel, adapter_lang: str, before: Mapping[str, BehaviourRate],
             vectors: Mapping[str, SteeringVector], langs: Sequence[str],
             metric: Callable[[str], float], config: RateConfig, *, layer: int,
             coefficient: float, reference: str = "en") -> list[Recovery]:  # fmt: skip
    """Steer the fine-tuned ``lm`` in ``langs`` with the reference and the language's own vector."""
    out = []
    for lang in langs:
        sources = [s for s in dict.fromkeys([reference, lang]) if s in vectors]
        steered = behaviour_rates(lm, lang, metric, config,
                                  [Steering(vectors[s], coefficient, (layer,)) for s in sources])  # fmt: skip
        out += [Recovery(adapter_lang=adapter_lang, lang=lang, vector_lang=source,
                         coefficient=coefficient, layer=layer, before=before[lang], after=after,
                         recovered=after.low > before[lang].high)
                for source, after in zip(sources, steered, strict=True)]  # fmt: skip
    return out
