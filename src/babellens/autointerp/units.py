"""A reference to one unit: an MLP neuron or a feature of a stored sparse dictionary.

Explanations, scores and search results name units with this one small type, so a new kind of
unit needs no new table, route or tool: only a way to compute its activations (see
:mod:`babellens.autointerp.activations` and :mod:`babellens.autointerp.feature_activations`).

A dictionary feature is ``source="dict:<id>"``, ``layer`` = the member's position in its set (0
for a single dictionary; the feature page's ``?member=``), ``index`` = the feature. The member
position rather than the model layer keeps the address the one the dictionary pages and the
feature scan already use, and keeps ``key`` unique across a set's members.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from babellens.errors import InvalidInputError

__all__ = [
    "DICTIONARY_PREFIX",
    "NEURON_SOURCE",
    "UnitRef",
    "dictionary_id_of",
    "dictionary_source",
    "feature_unit",
    "parse_unit",
]

NEURON_SOURCE = "neuron"
DICTIONARY_PREFIX = "dict:"


class UnitRef(BaseModel):
    """``source`` says what the index counts: ``neuron`` (MLP neurons) or a dictionary id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(NEURON_SOURCE, min_length=1, max_length=128)
    layer: int = Field(ge=0)
    index: int = Field(ge=0)

    @property
    def key(self) -> str:
        return f"{self.source}/{self.layer}/{self.index}"

    def __str__(self) -> str:
        return self.key


def parse_unit(text: str) -> UnitRef:
    """``L/I`` (a neuron) or ``SOURCE/L/I``; the form the CLI and the MCP tools accept."""
    parts = text.strip().split("/")
    if len(parts) == 2:
        parts = [NEURON_SOURCE, *parts]
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[0]:
        raise InvalidInputError(
            f"unit {text!r} is not LAYER/INDEX or SOURCE/LAYER/INDEX: use e.g. '3/117' or 'neuron/3/117'"
        )
    return UnitRef(source=parts[0], layer=int(parts[1]), index=int(parts[2]))


def dictionary_source(dict_id: int) -> str:
    """The unit source of a stored dictionary's (or set's) features: ``dict:<id>``."""
    if dict_id < 1:
        raise InvalidInputError(f"a dictionary id is a positive number, not {dict_id}")
    return f"{DICTIONARY_PREFIX}{dict_id}"


def dictionary_id_of(source: str) -> int | None:
    """The dictionary id a unit source names, or None for neurons and unknown sources."""
    if not source.startswith(DICTIONARY_PREFIX):
        return None
    tail = source.removeprefix(DICTIONARY_PREFIX)
    return int(tail) if tail.isdigit() and int(tail) > 0 else None


def feature_unit(dict_id: int, member: int, index: int) -> UnitRef:
    """Feature ``index`` of member ``member`` (0 for a single dictionary) of dictionary ``dict_id``."""
    return UnitRef(source=dictionary_source(dict_id), layer=member, index=index)
