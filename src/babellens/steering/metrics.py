"""Behaviour metrics, registered by name: what a steering evaluation measures on each output.

A metric maps a generated text to a number (``uppercase_fraction``, ``language:fr``, any Python
function), or, when it asks for probabilities, the next-token distribution after the prompt to a
number (``token_probability`` of given tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from babellens.errors import InvalidInputError
from babellens.registry import Registry

__all__ = ["METRICS", "Metric", "get_metric", "metric", "token_probability", "uppercase_fraction"]


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    kind: Literal["text", "probs"]
    fn: Callable[..., float]


METRICS: Registry[Metric] = Registry(
    "metric", "uppercase_fraction, language:LANG, token_probability:TOK|TOK"
)


def metric(
    name: str, description: str, kind: Literal["text", "probs"] = "text"
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    def register(fn: Callable[..., float]) -> Callable[..., float]:
        METRICS[name] = Metric(name, description, kind, fn)
        return fn

    return register


@metric("uppercase_fraction", "Upper-case letters among cased letters (NaN when there are none)")
def uppercase_fraction(text: str) -> float:
    upper = sum(c.isupper() for c in text)
    cased = upper + sum(c.islower() for c in text)
    return upper / cased if cased else float("nan")


def language_is(lang: str) -> Callable[[str], float]:
    def detect(text: str) -> float:
        try:
            import py3langid
        except ImportError as exc:  # pragma: no cover - a dependency
            raise InvalidInputError(
                "the language metric needs py3langid: pip install py3langid"
            ) from exc
        if not text.strip():
            return 0.0
        return float(py3langid.classify(text)[0] == lang)

    return detect


def token_probability(tokenizer: Any, tokens: Sequence[str]) -> Metric:
    """Probability mass on the first token of each of ``tokens`` as the next token."""
    ids = sorted({tokenizer(t, add_special_tokens=False)["input_ids"][0] for t in tokens if t})
    if not ids:
        raise InvalidInputError("token_probability needs at least one non-empty token")

    def mass(probs: torch.Tensor) -> float:
        return float(probs[ids].sum())

    return Metric(
        f"token_probability:{'|'.join(tokens)}", f"P(next token in {list(tokens)})", "probs", mass
    )


def get_metric(spec: str | Metric | Callable[[str], float], tokenizer: Any = None) -> Metric:
    """``uppercase_fraction``, ``language:fr``, ``token_probability:Paris|London``, a Metric, or a
    function of the generated text."""
    if isinstance(spec, Metric):
        return spec
    if callable(spec):
        return Metric(getattr(spec, "__name__", "custom"), "custom Python function", "text", spec)
    if spec in METRICS:
        return METRICS[spec]
    name, _, arg = spec.partition(":")
    if name == "language" and arg:
        return Metric(spec, f"output detected as language {arg!r}", "text", language_is(arg))
    if name == "token_probability" and arg:
        if tokenizer is None:
            raise InvalidInputError("token_probability needs the model's tokenizer")
        return token_probability(tokenizer, arg.split("|"))
    raise InvalidInputError(
        f"unknown metric {spec!r}: one of {', '.join(sorted(METRICS))}, language:LANG, token_probability:TOK|TOK"
    )
