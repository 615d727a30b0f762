"""Contrast data: what a steering vector is the difference between.

Either *pairs* (a positive and a negative text, optionally after a shared prompt: the CAA layout),
or two unpaired *sets*. Files are JSON Lines, one object per line:

- ``{"prompt": P, "positive": A, "negative": B}``: completion pairs (read over the completion);
- ``{"positive": A, "negative": B}``: text pairs;
- ``{"label": "positive" | "negative", "text": T}``: two sets.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from babellens.errors import InvalidInputError

__all__ = ["ContrastPair", "ContrastSet", "load_contrast"]


class ContrastPair(BaseModel):
    prompt: str = Field("", description="Shared text before both completions (may be empty)")
    positive: str
    negative: str


class ContrastSet(BaseModel):
    """The contrast data behind one vector; ``pairs`` or two unpaired sets."""

    name: str
    pairs: list[ContrastPair] = Field(default_factory=list)
    positives: list[str] = Field(default_factory=list, description="Unpaired positive texts")
    negatives: list[str] = Field(default_factory=list, description="Unpaired negative texts")
    description: str = ""

    def check(self) -> ContrastSet:
        """Usable contrast data, or a one-line error (raised here, not in a validator, so that it
        reaches the user as it is)."""
        if self.pairs and (self.positives or self.negatives):
            raise InvalidInputError(f"contrast set {self.name!r}: give pairs or two sets, not both")
        if not self.pairs and not (self.positives and self.negatives):
            raise InvalidInputError(
                f"contrast set {self.name!r} is empty: it needs pairs, or both positive and negative texts"
            )
        return self

    @property
    def paired(self) -> bool:
        return bool(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs else min(len(self.positives), len(self.negatives))

    def head(self, n: int) -> ContrastSet:
        """The first ``n`` examples (of each side)."""
        return self.model_copy(
            update={
                "pairs": self.pairs[:n],
                "positives": self.positives[:n],
                "negatives": self.negatives[:n],
            }
        )


def load_contrast(path: str | Path, name: str | None = None) -> ContrastSet:
    """Read a contrast file (see the module docstring for the three line shapes)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"no contrast file {path}: give a .jsonl file or a built-in concept name"
        )
    pairs, positives, negatives = [], [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if "label" in row:
                (positives if row["label"] == "positive" else negatives).append(str(row["text"]))
            else:
                pairs.append(
                    ContrastPair(
                        prompt=row.get("prompt", ""),
                        positive=row["positive"],
                        negative=row["negative"],
                    )
                )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"{path}:{number}: not a contrast line ({exc}); see `babellens steer build --help`"
            ) from None
    return ContrastSet(
        name=name or path.stem, pairs=pairs, positives=positives, negatives=negatives
    )
