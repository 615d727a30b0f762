"""Attention -> MLP context look-ups (Neo, Cohen & Barez, EMNLP 2024): the numerical core."""

from babellens.lookups.attribution import (
    AttributionMethod,
    HeadAttributions,
    active_heads,
    head_attributions,
)

__all__ = [
    "AttributionMethod",
    "HeadAttributions",
    "active_heads",
    "head_attributions",
]
