"""The answer-language identifier: accurate on held-out bundled texts, in any letter case."""

from __future__ import annotations

import pytest

from babellens.crossling.language_id import (
    LanguageIdentifier,
    bundled_identifier,
    in_language_share,
)
from babellens.data.prompts import instruction_languages, instructions


def test_held_out_instructions_are_identified_in_every_bundled_language():
    identifier = bundled_identifier()
    assert identifier.languages == instruction_languages()
    for lang in identifier.languages:
        held_out = [r["text"] for r in instructions(lang, "eval")]
        hits = sum(identifier.identify(t) == lang for t in held_out)
        assert hits / len(held_out) >= 0.95, lang
        upper = sum(identifier.identify(t.upper()) == lang for t in held_out)
        assert upper == hits  # CAPS answers are judged like normal ones


def test_hand_made_texts():
    identifier = LanguageIdentifier({"a": ["aaa ab"], "b": ["bbb ba"]})
    assert identifier.identify("ab aa") == "a" and identifier.identify("BB BA") == "b"
    assert identifier.identify("123 !?") is None
    scores = identifier.scores("aaa")
    assert scores["a"] > scores["b"]


@pytest.mark.parametrize(
    ("answers", "lang", "expected"),
    [
        (
            [
                "Hola, ¿cómo estás? Muy bien, gracias.",
                "THE SKY IS BLUE BECAUSE OF SCATTERING.",
                "42",
            ],
            "es",
            50.0,
        ),
        (["Небо голубое, потому что свет рассеивается."], "ru", 100.0),
        (["12", "!!"], "de", None),
        (["anything"], "tlh", None),
    ],
)
def test_in_language_share(answers, lang, expected):
    assert in_language_share(answers, lang) == expected
