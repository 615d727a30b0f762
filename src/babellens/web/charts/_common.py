"""Colours and the small wording helpers the chart builders share."""

from __future__ import annotations

import math
from collections.abc import Iterable

ACCENT = "#e8730c"
BLUE = "#3b6fd4"
GREY = "#8a94a6"
PALETTE = ["#e8730c", "#3b6fd4", "#2a9d8f", "#b3261e", "#7b5ea7", "#8a6d3b", "#4c566a", "#d4a017"]


def finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def short(x: float) -> str:
    """Two significant digits, written the way a reader writes them (0.012, 150, 1.5e-07)."""
    return f"{float(f'{x:.2g}'):g}"


def span(values: Iterable[float | None], unit: str = "") -> str:
    """'from A to B' over the finite values, so a summary says the range a reader would see."""
    found = finite(values)
    if not found:
        return "no values"
    lo, hi = min(found), max(found)
    return f"{short(lo)}{unit}" if lo == hi else f"from {short(lo)}{unit} to {short(hi)}{unit}"
