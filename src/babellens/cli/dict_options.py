"""Reading ``babellens dict train``'s option text: a width as ``16x`` or ``4096``, and ``--kind``
as a dictionary kind or an encoder name (``--kind topk`` is an SAE with that encoder)."""

from __future__ import annotations

from babellens.dictionaries.model import ACTIVATIONS
from babellens.errors import InvalidInputError

__all__ = ["kind_and_activation", "parse_width"]


def parse_width(text: str | None) -> tuple[int | None, int | None]:
    """``"16x"`` -> expansion 16; ``"4096"`` -> width 4096."""
    if text is None:
        return None, None
    try:
        if text.lower().endswith("x"):
            return None, int(text[:-1])
        return int(text), None
    except ValueError:
        raise InvalidInputError(f"cannot read width {text!r}: use e.g. 16x or 4096") from None


def kind_and_activation(kind: str, activation: str | None) -> tuple[str, str]:
    if kind in ACTIVATIONS:  # `--kind topk` is an SAE with that encoder
        return "sae", kind
    if kind not in ("sae", "transcoder"):
        raise InvalidInputError(
            f"unknown --kind {kind!r}: use sae, transcoder or an encoder ({', '.join(ACTIVATIONS)})"
        )
    return kind, activation or "topk"
