"""A reference to one unit (an MLP neuron today, a dictionary feature tomorrow).

Explanations, scores and search results name units with this one small type, so a new kind of
unit (a stored dictionary's features: ``source="dict:<id>"``, see :func:`dictionary_unit`) needs no
new table, route or tool: only a way to compute its activations (see
:mod:`babellens.autointerp.activations`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from babellens.errors import InvalidInputError

__all__ = ["NEURON_SOURCE", "UnitRef", "dictionary_unit", "parse_unit"]

NEURON_SOURCE = "neuron"


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


def dictionary_unit(dict_id: int, member: int, index: int) -> UnitRef:
    """Feature ``index`` of member ``member`` of stored dictionary ``dict_id``.

    The member (not the model layer it reads) is the ``layer``, so the reference names exactly
    what the feature page addresses (``/dictionaries/ID/features/INDEX?member=M``), and ``dict:ID``
    is the name a stored set goes by everywhere else (``--transcoders dict:7``).
    """
    return UnitRef(source=f"dict:{dict_id}", layer=member, index=index)
