"""Reading ``babellens dict train``'s option text: a width as ``16x`` or ``4096``, ``--kind`` as a
dictionary kind or an encoder name (``--kind topk`` is an SAE with that encoder), and all of them
as the job's parameters."""

from __future__ import annotations

from typing import Any

from babellens.cli.options import parse_layers
from babellens.dictionaries.config import DictTrainParams
from babellens.dictionaries.model import ACTIVATIONS
from babellens.errors import InvalidInputError
from babellens.jobs.registry import validate_params

__all__ = ["kind_and_activation", "parse_width", "train_params"]


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


def train_params(
    kind: str, activation: str | None, width: str | None, layers: str | None, **options: Any
) -> DictTrainParams:
    """The job's parameters from the options, kind and width read the CLI's way."""
    kind, activation = kind_and_activation(kind, activation)
    w, expansion = parse_width(width)
    layer_list = "all" if layers == "all" else parse_layers(layers)
    raw = {"kind": kind, "layers": layer_list, "activation": activation, "width": w, **options}
    if expansion is not None:
        raw["expansion"] = expansion
    params = validate_params(DictTrainParams, raw, what="dict train")
    assert isinstance(params, DictTrainParams)
    return params
