"""A dictionary's feature activations at a batch of captured activations, with the mask that says
which positions count.

One function for every reader of feature activations (the feature scan's running top-k and the
auto-interpretation sample), so both see exactly the same codes: BOS positions are masked out
because a dictionary never sees BOS in training and its codes there mean nothing.
"""

from __future__ import annotations

import torch

from babellens.dictionaries.model import SparseDictionary

__all__ = ["masked_codes"]


def masked_codes(
    sd: SparseDictionary, x: torch.Tensor, mask: torch.Tensor | None, skip_bos: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(codes [batch, pos, width], mask [batch, pos])``; codes are not multiplied by the mask."""
    mask = mask.clone() if mask is not None else torch.ones(x.shape[:2], device=x.device)
    if skip_bos:
        mask[:, 0] = 0
    return sd.encode(x.float()), mask
