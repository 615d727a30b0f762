"""How the units of a mixture-of-experts layer are numbered, wherever they are stored or shown.

Routed units first, expert by expert (unit ``e * d_expert + n`` is neuron n of expert e), then
the neurons of the layer's shared expert, if it has one (``n_experts * d_expert + n``).
"""

from __future__ import annotations

__all__ = ["expert_unit", "unit_parts"]


def expert_unit(unit: int, d_expert: int) -> tuple[int, int]:
    """``(expert, neuron)`` of a routed unit index."""
    return unit // d_expert, unit % d_expert


def unit_parts(unit: int, n_experts: int, d_expert: int) -> tuple[int | None, int]:
    """``(expert, neuron)`` of a routed unit, ``(None, neuron)`` of a shared-expert unit."""
    if unit < n_experts * d_expert:
        return expert_unit(unit, d_expert)
    return None, unit - n_experts * d_expert
