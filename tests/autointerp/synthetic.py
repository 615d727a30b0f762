"""Synthetic activations where the right explanation is known: unit u fires on word u only."""

from __future__ import annotations

import torch

from babellens.autointerp.activations import LayerActivations

WORDS = [f" tok{i:02d}x" for i in range(40)]


def synthetic_layer(
    n_windows: int = 400, width: int = 32, n_units: int = 4, seed: int = 0, dense: bool = False
) -> tuple[LayerActivations, list[list[str]]]:
    """Token strings drawn uniformly from :data:`WORDS`; unit u is 1 + noise on ``WORDS[u]`` and
    0 elsewhere (``dense``: small noise elsewhere, as an MLP neuron)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, len(WORDS), (n_windows, width), generator=gen)
    values = torch.zeros((n_windows, width, n_units))
    for u in range(n_units):
        on = ids == u
        values[:, :, u] = on * (1.0 + torch.rand((n_windows, width), generator=gen))
        if dense:
            values[:, :, u] += ~on * (torch.rand((n_windows, width), generator=gen) * 0.2 - 0.1)
    acts = LayerActivations(
        source="neuron",
        layer=0,
        values=values.to(torch.float16),
        lengths=[width] * n_windows,
        token_ids=ids.tolist(),
    )
    decode = [[WORDS[i] for i in row] for row in ids.tolist()]
    return acts, decode
