"""Inputs for hand computations: seeded token ids, and what a module received in a forward pass."""

from __future__ import annotations

import torch

from babellens.capture.language_model import LanguageModel


def seeded_ids(n: int = 7) -> torch.Tensor:
    """``[1, n]`` token ids below 100 (every tiny vocabulary has them), the same on every call."""
    return torch.randint(3, 100, (1, n), generator=torch.Generator().manual_seed(3))


def run_seeing_input(
    lm: LanguageModel, module: torch.nn.Module, ids: torch.Tensor, points: list[str]
) -> tuple[torch.Tensor, object]:
    """The input ``module`` received (its first argument or ``hidden_states``) during
    ``lm.run(ids, capture=points)``, and that run's result."""
    seen = {}

    def grab(_m, args, kwargs):
        seen["x"] = (args[0] if args else kwargs["hidden_states"]).clone()

    handle = module.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        out = lm.run(ids, capture=points)
    finally:
        handle.remove()
    return seen["x"], out
