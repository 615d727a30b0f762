"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.errors import InvalidInputError

__all__ = ["DbOpt", "JsonOpt", "parse_layers"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: BABELLENS_DB or a SQLite file).")
]


def parse_layers(text: str | None) -> list[int] | None:
    """``"0,3,5-7"`` -> ``[0, 3, 5, 6, 7]``; ``None`` or ``"all"`` -> ``None``."""
    if text is None or text.strip() in ("", "all"):
        return None
    layers: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            layers.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise InvalidInputError(f"cannot read layers {text!r}: use e.g. 0,3,5-7 or all") from None
    return sorted(layers)
