"""A tiny random JumpReLU transcoder with the SparseDictionary members graphs rely on.

Written apart from babellens.graphs._simple_transcoder so the tests do not check the code with
itself; at merge the lead points these helpers at babellens.dictionaries.SparseDictionary.
"""

from __future__ import annotations

import torch
from torch import nn

from babellens.capture.language_model import LanguageModel


class FakeTranscoder(nn.Module):
    kind = "transcoder"
    activation = "jumprelu"
    k = None

    def __init__(self, layer: int, d_model: int, width: int, gen: torch.Generator, skip: bool):
        super().__init__()
        self.hook_in, self.hook_out = f"mlp_in.{layer}", f"mlp_out.{layer}"
        self.d_in = self.d_out = d_model
        self.width = width
        self.W_enc = nn.Parameter(torch.randn(d_model, width, generator=gen) / d_model**0.5)
        self.b_enc = nn.Parameter(torch.randn(width, generator=gen) * 0.2)
        self.W_dec = nn.Parameter(torch.randn(width, d_model, generator=gen) / width**0.5)
        self.b_dec = nn.Parameter(torch.randn(d_model, generator=gen) * 0.05)
        self.threshold = nn.Parameter(torch.rand(width, generator=gen) * 0.3)
        skip_w = torch.randn(d_model, d_model, generator=gen) * 0.2 / d_model**0.5
        self.W_skip = nn.Parameter(skip_w) if skip else None

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_acts(x)
        return torch.where(pre > self.threshold, pre, torch.zeros_like(pre))

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        out = f @ self.W_dec + self.b_dec
        return out + x @ self.W_skip if self.W_skip is not None and x is not None else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x)


def fake_transcoders(
    lm: LanguageModel, width: int = 12, seed: int = 0, skip: bool = False
) -> dict[int, FakeTranscoder]:
    gen = torch.Generator().manual_seed(seed)
    a = lm.adapter
    return {
        layer: FakeTranscoder(layer, a.d_model, width, gen, skip).to(lm.dtype).requires_grad_(False)
        for layer in range(a.n_layers)
    }
