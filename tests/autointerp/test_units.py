"""Unit references: a dictionary feature is named the way its page and the CLI name it."""

from __future__ import annotations

from babellens.autointerp.units import feature_unit, parse_unit


def test_a_dictionary_feature_round_trips_through_its_text_form() -> None:
    unit = feature_unit(7, 2, 13)
    assert (unit.source, unit.layer, unit.index) == ("dict:7", 2, 13)
    assert unit.key == "dict:7/2/13"
    assert parse_unit(unit.key) == unit  # what `--units` and the MCP tools accept
