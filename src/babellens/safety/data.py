"""The safety concepts' parallel data: refusal instructions and A/B questions, per language.

A concept is a folder of ``LANG.jsonl`` files (see ``babellens/data/safety/README.md``). The
bundled concepts live in the package; ``data_dir`` points at a user's folder of the same shape.
Letters for A/B items are assigned here, never stored: the matching answer goes under (A) for
odd ids and under (B) for even ids, so every split is balanced and "always A" scores 50%.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from babellens.errors import InvalidInputError

__all__ = [
    "ABItem",
    "ConceptData",
    "InstructionItem",
    "Split",
    "bundled_concepts",
    "concept_languages",
    "load_concept",
]

Split = Literal["train", "test"]
_LABELS = "refusal_labels"  # the detector's hand labels, not a concept
ConceptKind = Literal["instructions", "ab"]


class InstructionItem(BaseModel):
    """A harmful request and a harmless one of the same shape (refusal)."""

    id: int
    split: Split
    harmful: str
    harmless: str


class ABItem(BaseModel):
    """An A/B question; ``matching`` shows the behaviour, ``other`` does not."""

    id: int
    split: Split
    question: str
    matching: str
    other: str

    @property
    def matching_letter(self) -> str:
        return "A" if self.id % 2 == 1 else "B"

    @property
    def other_letter(self) -> str:
        return "B" if self.matching_letter == "A" else "A"

    def options(self) -> tuple[str, str]:
        """(text under A, text under B)."""
        if self.matching_letter == "A":
            return self.matching, self.other
        return self.other, self.matching


class ConceptData(BaseModel):
    name: str
    kind: ConceptKind
    lang: str
    items: list[InstructionItem] | list[ABItem] = Field(description="In id order")

    def split(self, split: Split) -> list[Any]:
        return [item for item in self.items if item.split == split]


def _root(data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise InvalidInputError(
                f"no data folder {root}: give a folder with one folder per concept"
            )
        return root
    with resources.as_file(resources.files("babellens.data") / "safety") as path:
        return Path(path)


def bundled_concepts(data_dir: str | Path | None = None) -> list[str]:
    root = _root(data_dir)
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and p.name != _LABELS and any(p.glob("*.jsonl"))
    )


def concept_languages(concept: str, data_dir: str | Path | None = None) -> list[str]:
    folder = _concept_folder(concept, data_dir)
    return sorted(p.stem for p in folder.glob("*.jsonl"))


def _concept_folder(concept: str, data_dir: str | Path | None) -> Path:
    folder = _root(data_dir) / concept
    if not folder.is_dir() or concept == _LABELS:
        names = bundled_concepts(data_dir)
        raise InvalidInputError(f"no safety concept {concept!r}: available are {', '.join(names)}")
    return folder


def load_concept(concept: str, lang: str, data_dir: str | Path | None = None) -> ConceptData:
    """One language's items of a concept, checked: ids unique, both splits present."""
    return _load(concept, lang, None if data_dir is None else str(data_dir))


@cache
def _load(concept: str, lang: str, data_dir: str | None) -> ConceptData:
    folder = _concept_folder(concept, data_dir)
    path = folder / f"{lang}.jsonl"
    if not path.is_file():
        langs = ", ".join(concept_languages(concept, data_dir))
        raise InvalidInputError(
            f"concept {concept!r} has no language {lang!r}: available are {langs}"
        )
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if not rows:
        raise InvalidInputError(f"{path} is empty: give one item a line")
    kind: ConceptKind = "instructions" if "harmful" in rows[0] else "ab"
    model = InstructionItem if kind == "instructions" else ABItem
    try:
        items = sorted((model.model_validate(r) for r in rows), key=lambda i: i.id)
    except ValueError as exc:
        raise InvalidInputError(f"{path}: not a {kind} item ({str(exc).splitlines()[0]})") from None
    if len({i.id for i in items}) != len(items):
        raise InvalidInputError(f"{path}: item ids must be unique")
    data = ConceptData(name=concept, kind=kind, lang=lang, items=items)
    if not data.split("train") or not data.split("test"):
        raise InvalidInputError(f"{path}: mark some items 'train' and some 'test'")
    return data
