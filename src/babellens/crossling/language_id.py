"""Which language is an answer in? A CAPS rate alone cannot tell transfer from switching.

A model fine-tuned to shout in English may answer a Spanish question in upper-case English: the
CAPS metric counts that as transfer. Reporting beside each rate the share of answers written in
the prompt's language separates the two. The identifier is multinomial naive Bayes over
character 1–3-grams, trained on the bundled parallel texts (instructions and reference answers),
so it knows exactly the bundled languages and needs no download; a language added as a file is
known too.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from functools import cache

__all__ = ["LanguageIdentifier", "bundled_identifier", "in_language_share"]


def _grams(text: str, n: int) -> Iterable[str]:
    """Character 1..n-grams of the lower-cased text, words padded with a space on each side."""
    words = [w for w in "".join(c if c.isalpha() else " " for c in text.lower()).split() if w]
    for word in words:
        padded = f" {word} "
        for size in range(1, n + 1):
            for i in range(len(padded) - size + 1):
                gram = padded[i : i + size]
                if gram.strip():
                    yield gram


class LanguageIdentifier:
    def __init__(self, texts: Mapping[str, Sequence[str]], n: int = 3, alpha: float = 0.5) -> None:
        self.n, self.alpha = n, alpha
        counts = {lang: Counter(g for t in ts for g in _grams(t, n)) for lang, ts in texts.items()}
        vocabulary = len(set().union(*counts.values())) if counts else 0
        self._log_probs: dict[str, dict[str, float]] = {}
        self._unseen: dict[str, float] = {}
        for lang, counter in counts.items():
            denominator = sum(counter.values()) + alpha * (vocabulary + 1)
            self._log_probs[lang] = {
                g: math.log((c + alpha) / denominator) for g, c in counter.items()
            }
            self._unseen[lang] = math.log(alpha / denominator)

    @property
    def languages(self) -> list[str]:
        return sorted(self._log_probs)

    def scores(self, text: str) -> dict[str, float]:
        """Log-likelihood of the text under each language (uniform prior)."""
        grams = Counter(_grams(text, self.n))
        return {
            lang: sum(k * probs.get(g, self._unseen[lang]) for g, k in grams.items())
            for lang, probs in self._log_probs.items()
        }

    def identify(self, text: str) -> str | None:
        """The most likely language, or None for a text without letters."""
        scores = self.scores(text)
        if not scores or not any(c.isalpha() for c in text):
            return None
        return max(scores, key=scores.__getitem__)


@cache
def bundled_identifier() -> LanguageIdentifier:
    """Trained on every bundled language's training instructions and reference answers."""
    from babellens.data.prompts import answers, instruction_languages, instructions
    from babellens.errors import InvalidInputError

    texts: dict[str, list[str]] = {}
    for lang in instruction_languages():
        texts[lang] = [r["text"] for r in instructions(lang, "train")]
        with suppress(InvalidInputError):  # without reference answers, instructions suffice
            texts[lang] += [r["text"] for r in answers(lang)]
    return LanguageIdentifier(texts)


def in_language_share(answers: Sequence[str], lang: str) -> float | None:
    """% of the answers with letters identified as ``lang``; None if ``lang`` is not bundled or
    no answer has letters."""
    identifier = bundled_identifier()
    if lang not in identifier.languages:
        return None
    found = [identifier.identify(a) for a in answers]
    judged = [f for f in found if f is not None]
    return 100 * sum(f == lang for f in judged) / len(judged) if judged else None
