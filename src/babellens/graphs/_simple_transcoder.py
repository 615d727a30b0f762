"""A minimal transcoder in the SparseDictionary layout, so a folder of weights can be traced
before the dictionaries store is wired in (and so benchmarks have random ones to trace)."""

from __future__ import annotations

import torch
from torch import nn

__all__: list[str] = []


class SimpleTranscoder(nn.Module):
    """ReLU, JumpReLU or top-k transcoder ``mlp_in.L -> mlp_out.L`` with an optional skip."""

    kind = "transcoder"

    def __init__(
        self,
        *,
        W_enc: torch.Tensor,
        b_enc: torch.Tensor,
        W_dec: torch.Tensor,
        b_dec: torch.Tensor,
        layer: int,
        threshold: torch.Tensor | None = None,
        W_skip: torch.Tensor | None = None,
        activation: str = "relu",
        k: int | None = None,
    ) -> None:
        super().__init__()
        self.hook_in, self.hook_out = f"mlp_in.{layer}", f"mlp_out.{layer}"
        self.d_in, self.width = W_enc.shape
        self.d_out = W_dec.shape[1]
        self.activation, self.k = activation, k
        self.W_enc = nn.Parameter(W_enc.float())
        self.b_enc = nn.Parameter(b_enc.float())
        self.W_dec = nn.Parameter(W_dec.float())
        self.b_dec = nn.Parameter(b_dec.float())
        zeros = torch.zeros(self.width)
        self.threshold = nn.Parameter((threshold if threshold is not None else zeros).float())
        self.W_skip = nn.Parameter(W_skip.float()) if W_skip is not None else None

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_acts(x)
        if self.activation == "jumprelu":
            return pre * (pre > self.threshold)
        acts = torch.relu(pre)
        if self.activation in ("topk", "batchtopk") and self.k is not None:
            top = acts.topk(min(self.k, self.width), dim=-1)
            acts = torch.zeros_like(acts).scatter(-1, top.indices, top.values)
        return acts

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        out = f @ self.W_dec + self.b_dec
        if self.W_skip is not None and x is not None:
            out = out + x @ self.W_skip
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x)


def random_transcoders(
    n_layers: int,
    d_model: int,
    width: int,
    *,
    seed: int = 0,
    activation: str = "relu",
    k: int | None = None,
    skip: bool = False,
    dtype: torch.dtype = torch.float32,
) -> dict[int, SimpleTranscoder]:
    """Random weights scaled so activations are O(1): for tests and benchmarks, never analysis."""
    gen = torch.Generator().manual_seed(seed)
    result = {}
    for layer in range(n_layers):
        w_enc = torch.randn(d_model, width, generator=gen) / d_model**0.5
        b_enc = torch.randn(width, generator=gen) * 0.1 - 0.05
        w_dec = torch.randn(width, d_model, generator=gen) / width**0.5
        b_dec = torch.randn(d_model, generator=gen) * 0.01
        threshold = torch.rand(width, generator=gen) * 0.2
        w_skip = torch.randn(d_model, d_model, generator=gen) * 0.1 / d_model**0.5 if skip else None
        tc = SimpleTranscoder(
            W_enc=w_enc,
            b_enc=b_enc,
            W_dec=w_dec,
            b_dec=b_dec,
            threshold=threshold,
            W_skip=w_skip,
            layer=layer,
            activation=activation,
            k=k,
        )
        result[layer] = tc.to(dtype).requires_grad_(False)
    return result
