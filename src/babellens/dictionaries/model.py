"""The sparse dictionary: one module for sparse autoencoders and transcoders of every encoder kind.

Weights are stored in the orientation a reader multiplies with (``x @ W_enc``, ``f @ W_dec``),
in float32, and always act on the model's raw activations: any input scaling used in training and
any "subtract b_dec before encoding" convention of another library is folded into ``W_enc`` and
``b_enc`` when a dictionary is saved or imported, so every consumer runs the same four lines.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from babellens.errors import InvalidInputError

__all__ = ["ACTIVATIONS", "Activation", "DictionaryKind", "SparseDictionary", "batch_topk"]

DictionaryKind = Literal["sae", "transcoder"]
Activation = Literal["topk", "batchtopk", "jumprelu", "relu"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
_NEEDS_K = ("topk", "batchtopk")


def check_shape(width: int, k: int | None, activation: str) -> None:
    """The one-line errors a user meets for an impossible width, k or encoder."""
    if activation not in ACTIVATIONS:
        raise InvalidInputError(
            f"unknown activation {activation!r}: use one of {', '.join(ACTIVATIONS)}"
        )
    if width < 1:
        raise InvalidInputError(f"width must be at least 1 (got {width})")
    if activation in _NEEDS_K:
        if k is None or k < 1:
            raise InvalidInputError(f"a {activation} dictionary needs k ≥ 1 (got {k})")
        if k >= width:
            raise InvalidInputError(f"k must be smaller than the width (got k={k}, width={width})")


class SparseDictionary(nn.Module):
    """``forward(x) = decode(encode(x), x)``; an SAE when ``hook_out == hook_in``."""

    def __init__(
        self,
        d_in: int,
        width: int,
        d_out: int | None = None,
        *,
        kind: DictionaryKind = "sae",
        hook_in: str = "",
        hook_out: str | None = None,
        activation: Activation = "topk",
        k: int | None = None,
        skip: bool = False,
    ) -> None:
        super().__init__()
        check_shape(width, k, activation)
        if kind not in ("sae", "transcoder"):
            raise InvalidInputError(f"unknown dictionary kind {kind!r}: use sae or transcoder")
        d_out = d_in if d_out is None else d_out
        if kind == "sae" and (d_out != d_in or skip):
            raise InvalidInputError("an SAE reconstructs its input: d_out = d_in and no skip")
        self.kind: DictionaryKind = kind
        self.hook_in = hook_in
        self.hook_out = hook_in if hook_out is None else hook_out
        self.d_in, self.d_out, self.width = d_in, d_out, width
        self.activation: Activation = activation
        self.k = k if activation in _NEEDS_K else None
        self.W_enc = nn.Parameter(torch.zeros(d_in, width))
        self.b_enc = nn.Parameter(torch.zeros(width))
        self.W_dec = nn.Parameter(torch.zeros(width, d_out))
        self.b_dec = nn.Parameter(torch.zeros(d_out))
        self.register_buffer("threshold", torch.zeros(width))
        self.W_skip = nn.Parameter(torch.zeros(d_in, d_out)) if skip else None

    def extra_repr(self) -> str:
        k = f", k={self.k}" if self.k is not None else ""
        return (
            f"{self.kind} {self.hook_in}->{self.hook_out}, d_in={self.d_in}, "
            f"width={self.width}, {self.activation}{k}"
        )

    @property
    def config(self) -> dict[str, object]:
        """What rebuilds this module's shape (the weights aside)."""
        return {
            "kind": self.kind,
            "hook_in": self.hook_in,
            "hook_out": self.hook_out,
            "d_in": self.d_in,
            "d_out": self.d_out,
            "width": self.width,
            "activation": self.activation,
            "k": self.k,
            "skip": self.W_skip is not None,
        }

    @classmethod
    def from_config(cls, config: dict[str, object]) -> SparseDictionary:
        c = dict(config)
        return cls(
            int(c.pop("d_in")),  # type: ignore[arg-type]
            int(c.pop("width")),  # type: ignore[arg-type]
            int(c.pop("d_out")),  # type: ignore[arg-type]
            **c,  # type: ignore[arg-type]
        )

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.W_enc.dtype) @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Feature activations ``[..., width]`` (inference: BatchTopK reads its threshold)."""
        pre = self.pre_acts(x)
        if self.activation == "topk":
            return topk_activations(pre, int(self.k))  # type: ignore[arg-type]
        if self.activation in ("jumprelu", "batchtopk"):
            return torch.relu(pre) * (pre > self.threshold)
        return torch.relu(pre)

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        out = f @ self.W_dec + self.b_dec
        if self.W_skip is not None:
            if x is None:
                raise InvalidInputError("this transcoder has a skip connection: decode(f, x)")
            out = out + x.to(self.W_skip.dtype) @ self.W_skip
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x)


def topk_activations(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep each row's ``k`` largest pre-activations (ReLU'd), zero the rest."""
    values, indices = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))


def batch_topk(pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k × rows`` largest pre-activations of the whole batch (ReLU'd).

    Returns the activations and the batch's threshold: the smallest kept positive value, which
    is the ``k × rows``-th largest pre-activation when that one is positive. Training averages
    it over batches; inference uses the average as a JumpReLU threshold, so an activation no
    longer depends on the other rows of its batch.
    """
    flat = pre.reshape(-1, pre.shape[-1])
    n_keep = min(k * flat.shape[0], flat.numel())
    values, indices = flat.flatten().topk(n_keep, sorted=False)
    values = torch.relu(values)
    acts = torch.zeros_like(flat).flatten().scatter(0, indices, values).reshape(pre.shape)
    positive = values[values > 0]
    threshold = positive.min() if positive.numel() else values.new_zeros(())
    return acts, threshold.detach()
