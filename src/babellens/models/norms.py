"""A norm (RMSNorm or LayerNorm, any family's flavour) as the affine map it is at one position.

Every pre-/post-norm in the supported families computes ``y = (x - c·mean(x)) / s(x) ⊙ γ + β``
(``c`` = 1 for LayerNorm, 0 for RMSNorm; Gemma's ``1 + w`` is just its ``γ``). Freezing ``s(x)``
at the value of the actual forward pass makes the norm linear, so contributions to ``x`` map to
contributions to ``y`` exactly and sum back to ``y - β``. ``γ``, ``β`` and ``c`` are read by
probing the module (no per-family code), and ``1 / s`` of each row by least squares from the
recorded input and output, which is exact whatever ``eps`` the module adds inside.

This is the one place the norm scale of a pass is read: the congruence's folded final norm
(``analyses.next_token_neurons``), the head attribution's frozen norms (``lookups``) and the
replacement model's frozen norms (``graphs``) all use :func:`norm_affine`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

__all__ = ["NormAffine", "norm_affine"]

_PROBE_SCALE = 64.0
"""Large enough that ``eps`` (<= 1e-5) is lost against the variance (4096), small for fp16."""


@dataclass(frozen=True)
class NormAffine:
    gamma: torch.Tensor  # [d]
    beta: torch.Tensor  # [d]
    centres: bool

    def centre(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` with its mean over the last axis removed, when the norm centres its input."""
        return v - v.mean(dim=-1, keepdim=True) if self.centres else v

    def inverse_scale(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``1 / s(x)`` per row of ``x`` ``[..., d]``, from the module's own output ``y``."""
        u = self.centre(x) * self.gamma
        return ((y - self.beta) * u).sum(-1) / (u * u).sum(-1).clamp_min(1e-30)

    def frozen_direction(self, v: torch.Tensor, inverse_scale: torch.Tensor) -> torch.Tensor:
        """The vector ``e`` with ``frozen_norm(c) · v == c · e`` for every contribution ``c``.

        ``frozen_norm(c) = centre(c) · (1/s) ⊙ γ``; centring is symmetric, so it moves onto ``v``.
        """
        return self.centre(v * self.gamma) * inverse_scale.unsqueeze(-1)


def norm_affine(
    norm: torch.nn.Module, d_model: int, dtype: torch.dtype = torch.float32
) -> NormAffine:
    """Probe ``norm`` with zeros, a constant and a zero-mean ±1 vector to read ``β``, ``c``, ``γ``.

    A half-precision norm is probed through a float32 copy: Gemma's ``1 + w`` would otherwise be
    rounded to the model's dtype before it is read, and the congruence is float32 math on the
    weights as stored, whatever the model's dtype (``dtype`` rounds the result as asked).
    """
    if isinstance(norm, torch.nn.Identity):  # post-norm models' missing final norm: y = x
        return NormAffine(
            torch.ones(d_model, dtype=dtype), torch.zeros(d_model, dtype=dtype), False
        )
    weight = next(norm.parameters(), None)
    device = weight.device if weight is not None else torch.device("cpu")
    mdtype = weight.dtype if weight is not None else dtype
    if mdtype in (torch.float16, torch.bfloat16):
        norm, mdtype = copy.deepcopy(norm).float(), torch.float32
    probe = torch.ones(d_model, device=device, dtype=torch.float64)
    probe[1::2] = -1
    probes = torch.stack([torch.zeros_like(probe), torch.ones_like(probe), probe]) * _PROBE_SCALE
    with torch.inference_mode():
        zero, flat, signed = norm(probes.to(mdtype).unsqueeze(1)).squeeze(1).to(torch.float64)
    beta = zero
    spread = (signed - beta).abs().max().clamp_min(1e-30)
    centres = bool((flat - beta).abs().max() <= 1e-3 * spread)
    unit = probe - probe.mean() if centres else probe
    unit = unit / unit.pow(2).mean().sqrt()
    gamma = (signed - beta) / unit
    return NormAffine(gamma.to(dtype), beta.to(dtype), centres)
