"""Fixed histogram bins shared by every neuron, every model and every shard of a scan.

Activations span four orders of magnitude between models and layers, and a neuron's range is not
known before the scan, so the bins are uniform in signed-log space: ``sign(x) * log1p(|x|)``
from -6 to 6 (|x| up to ~400) in 96 bins, plus one underflow and one overflow bin. Fixed edges
make histograms of separate shards add up exactly.
"""

from __future__ import annotations

from itertools import pairwise

import torch

__all__ = ["N_BINS", "bin_centres", "bin_edges", "bin_index"]

_LOG_LIMIT = 6.0
_INNER_BINS = 96
N_BINS = _INNER_BINS + 2


def bin_edges() -> torch.Tensor:
    """The ``_INNER_BINS + 1`` edges in activation units (float64)."""
    log_edges = torch.linspace(-_LOG_LIMIT, _LOG_LIMIT, _INNER_BINS + 1, dtype=torch.float64)
    return torch.sign(log_edges) * torch.expm1(log_edges.abs())


def bin_index(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Bin of each value: 0 = below the first edge, ``N_BINS - 1`` = at or above the last."""
    return torch.bucketize(values, edges.to(values.device, values.dtype), right=True)


def bin_centres() -> list[float]:
    """A representative value per bin (for plotting); the outer bins use their inner edge."""
    edges = bin_edges().tolist()
    inner = [(a + b) / 2 for a, b in pairwise(edges)]
    return [edges[0], *inner, edges[-1]]
