"""Built-in concepts with their contrast data, registered by name (``@concept``).

- ``caps`` (and ``caps-xx`` for any language with bundled answers): the same answer in ALL CAPS
  versus normal case, after the model's own chat prompt; read over the answer tokens.
- ``lang-xx-vs-yy`` (``french`` = ``lang-fr-vs-en``): the same instruction in language xx
  versus yy; read as the mean over the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from babellens.data.prompts import answers, chat_prompt, instruction_languages, instructions
from babellens.errors import InvalidInputError
from babellens.registry import Registry
from babellens.steering.contrast import ContrastPair, ContrastSet

__all__ = ["CONCEPTS", "Concept", "concept", "concept_names", "get_concept"]


@dataclass(frozen=True)
class Concept:
    name: str
    description: str
    read: str  # the default read mode for this concept's vectors
    contrast: Callable[[Any], ContrastSet]  # tokenizer -> contrast data


CONCEPTS: Registry[Concept] = Registry("concept", "`babellens steer concepts` lists them")


def concept(
    name: str, description: str, read: str
) -> Callable[[Callable[[Any], ContrastSet]], Callable[[Any], ContrastSet]]:
    def register(fn: Callable[[Any], ContrastSet]) -> Callable[[Any], ContrastSet]:
        CONCEPTS[name] = Concept(name, description, read, fn)
        return fn

    return register


def caps_contrast(tokenizer: Any, lang: str = "en") -> ContrastSet:
    by_id = {r["id"]: r["text"] for r in instructions(lang)}
    pairs = [
        ContrastPair(
            prompt=chat_prompt(tokenizer, by_id[a["id"]]),
            positive=a["text"].upper(),
            negative=a["text"],
        )
        for a in answers(lang)
    ]
    return ContrastSet(
        name=f"caps-{lang}",
        pairs=pairs,
        description=f"answers in ALL CAPS vs normal case ({lang}, {len(pairs)} pairs)",
    )


def language_contrast(positive: str, negative: str) -> ContrastSet:
    neg = {r["id"]: r["text"] for r in instructions(negative, "train")}
    pairs = [
        ContrastPair(positive=r["text"], negative=neg[r["id"]])
        for r in instructions(positive, "train")
        if r["id"] in neg
    ]
    return ContrastSet(
        name=f"lang-{positive}-vs-{negative}",
        pairs=pairs,
        description=f"the same instructions in {positive} vs {negative} ({len(pairs)} pairs)",
    )


@concept("caps", "Answers in ALL CAPS vs normal case (English)", read="completion_mean")
def _caps(tokenizer: Any) -> ContrastSet:
    return caps_contrast(tokenizer, "en")


@concept("french", "French vs English text (the same instructions)", read="mean")
def _french(tokenizer: Any) -> ContrastSet:
    return language_contrast("fr", "en")


_CAPS_LANG = re.compile(r"^caps-([a-z]{2,3})$")
_LANG_PAIR = re.compile(r"^lang-([a-z]{2,3})-vs-([a-z]{2,3})$")


def get_concept(name: str) -> Concept:
    """A registered concept, or a parametric one: ``caps-xx``, ``lang-xx-vs-yy``."""
    if name in CONCEPTS:
        return CONCEPTS[name]
    if match := _CAPS_LANG.match(name):
        lang = match[1]
        return Concept(
            name,
            f"ALL CAPS vs normal case ({lang})",
            "completion_mean",
            lambda tok: caps_contrast(tok, lang),
        )
    if match := _LANG_PAIR.match(name):
        a, b = match[1], match[2]
        for lang in (a, b):
            if lang not in instruction_languages():
                raise InvalidInputError(
                    f"no bundled language {lang!r}: available are {', '.join(instruction_languages())}"
                )
        return Concept(name, f"{a} vs {b} text", "mean", lambda _tok: language_contrast(a, b))
    raise InvalidInputError(
        f"unknown concept {name!r}: built-in are {', '.join(concept_names())}, caps-LANG and lang-A-vs-B, or give a .jsonl contrast file"
    )


def concept_names() -> list[str]:
    return sorted(CONCEPTS)
