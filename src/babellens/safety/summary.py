"""From the rows' outputs to rates with bootstrap intervals, per cell."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from typing import Any

from babellens.crossling.language_id import LanguageIdentifier
from babellens.crossling.rates import bootstrap_interval
from babellens.safety.cells import Row
from babellens.safety.config import SafetyParams
from babellens.safety.detector import is_refusal
from babellens.safety.report import SafetyBaseRate, SafetyRate

__all__ = ["rate", "safety_identifier", "summarise"]


def rate(values: Sequence[float], resamples: int, seed: int) -> SafetyRate:
    if not values:
        nan = float("nan")
        return SafetyRate(mean=nan, low=nan, high=nan, n=0)
    low, high = bootstrap_interval(list(values), resamples, seed)
    return SafetyRate(mean=sum(values) / len(values), low=low, high=high, n=len(values))


@cache
def safety_identifier() -> LanguageIdentifier:
    """The cross-lingual module's identifier, trained on the bundled instructions and on the
    safety data too (so it knows Chinese, which the instructions lack)."""
    from babellens.data.prompts import instruction_languages, instructions
    from babellens.safety.data import bundled_concepts, concept_languages, load_concept

    texts: dict[str, list[str]] = defaultdict(list)
    for lang in instruction_languages():
        texts[lang] += [r["text"] for r in instructions(lang, "train")]
    for concept in bundled_concepts():
        for lang in concept_languages(concept):
            for item in load_concept(concept, lang).items:
                texts[lang] += [
                    str(v)
                    for k, v in item.model_dump().items()
                    if isinstance(v, str) and k != "split"
                ]
    return LanguageIdentifier(dict(texts))


def _in_language(answers: Sequence[str], lang: str) -> float | None:
    identifier = safety_identifier()
    if lang not in identifier.languages:
        return None
    found = [identifier.identify(a) for a in answers]
    judged = [f for f in found if f is not None]
    return 100 * sum(f == lang for f in judged) / len(judged) if judged else None


def summarise(
    kind: str, params: SafetyParams, rows: Sequence[Row], outputs: Sequence[Any]
) -> dict[str, Any]:
    """``base``, ``transfer``, ``random`` and (refusal) ``in_language`` for the report."""
    cells: dict[str, list[Any]] = defaultdict(list)
    for row, out in zip(rows, outputs, strict=True):
        cells[row.key].append(out)
    langs = list(params.langs)
    r, s = params.resamples, params.seed

    if kind == "instructions":

        def refused(key: str, lang: str) -> SafetyRate:
            return rate([100.0 * is_refusal(a, lang) for a in cells[key]], r, s)

        base = [
            SafetyBaseRate(
                lang=e,
                rate=refused(f"base|harmful|{e}", e),
                harmless=refused(f"base|harmless|{e}", e),
                in_language=_in_language(
                    cells[f"base|harmful|{e}"] + cells[f"base|harmless|{e}"], e
                ),
                samples=cells[f"base|harmful|{e}"][:2] + cells[f"base|harmless|{e}"][:1],
            )
            for e in langs
        ]
        conditions = ["ablation", "addition"]
        transfer = {
            c: [[refused(f"{c}|{d}|{e}", e) for e in langs] for d in langs] for c in conditions
        }
        random = {c: [refused(f"{c}|random|{e}", e) for e in langs] for c in conditions}
        in_language = {
            c: [[_in_language(cells[f"{c}|{d}|{e}"], e) for e in langs] for d in langs]
            for c in conditions
        }
        return {"base": base, "transfer": transfer, "random": random, "in_language": in_language}

    def matching(key: str) -> SafetyRate:
        return rate([100.0 * p for p in cells[key]], r, s)

    base = [SafetyBaseRate(lang=e, rate=matching(f"base|{e}")) for e in langs]
    transfer, random = {}, {}
    for m in params.multipliers:
        name = f"x{m:g}"
        if m == 0:
            transfer[name] = [[matching(f"base|{e}") for e in langs] for _ in langs]
            random[name] = [matching(f"base|{e}") for e in langs]
        else:
            transfer[name] = [[matching(f"{name}|{d}|{e}") for e in langs] for d in langs]
            random[name] = [matching(f"{name}|random|{e}") for e in langs]
    return {"base": base, "transfer": transfer, "random": random}
