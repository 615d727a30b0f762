"""The web address of a unit, written once for every front end that links to one.

A neuron lives under its model's pages; a dictionary feature under its dictionary's (the member
as ``?member=``, as the dictionary page links it). Search results, the MCP tools and the pages
build their links here, so a feature found by its explanation opens the feature page.
"""

from __future__ import annotations

from babellens.autointerp.units import NEURON_SOURCE, UnitRef, dictionary_id_of

__all__ = ["feature_path", "neuron_path", "unit_path"]


def neuron_path(slug: str, layer: int, neuron: int) -> str:
    return f"/models/{slug}/layers/{layer}/neurons/{neuron}"


def feature_path(dict_id: int, member: int, index: int) -> str:
    return f"/dictionaries/{dict_id}/features/{index}?member={member}"


def unit_path(slug: str, unit: UnitRef) -> str | None:
    """The unit's page, or None for a source no page shows (e.g. an imported one)."""
    if unit.source == NEURON_SOURCE:
        return neuron_path(slug, unit.layer, unit.index)
    dict_id = dictionary_id_of(unit.source)
    return None if dict_id is None else feature_path(dict_id, unit.layer, unit.index)
