"""Training-time encoders and losses: what differs from inference, kept out of the module.

TopK and ReLU encode as at inference. BatchTopK keeps the batch's ``k × rows`` largest values and
reports the batch threshold (averaged into the stored JumpReLU threshold). JumpReLU trains its
threshold through straight-through estimators with a rectangle kernel (Rajamanoharan et al.,
2024), since the step function has no useful gradient of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from babellens.dictionaries.model import SparseDictionary, batch_topk, topk_activations

__all__ = ["StepLosses", "aux_k_loss", "encode_for_training"]

_BANDWIDTH = 1e-3  # of the rectangle kernel, in units of the (normalised) pre-activation


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(pre, threshold)
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        pre, threshold = ctx.saved_tensors
        kernel = ((pre - threshold).abs() < _BANDWIDTH / 2).to(grad.dtype) / _BANDWIDTH
        grad_threshold = -(threshold * kernel * grad).reshape(-1, pre.shape[-1]).sum(0)
        return grad * (pre > threshold), grad_threshold


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(pre, threshold)
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        pre, threshold = ctx.saved_tensors
        kernel = ((pre - threshold).abs() < _BANDWIDTH / 2).to(grad.dtype) / _BANDWIDTH
        return torch.zeros_like(pre), -(kernel * grad).reshape(-1, pre.shape[-1]).sum(0)


@dataclass
class StepLosses:
    acts: torch.Tensor
    penalty: torch.Tensor
    batch_threshold: torch.Tensor | None


def encode_for_training(
    sd: SparseDictionary,
    x: torch.Tensor,
    *,
    log_threshold: torch.Tensor | None,
    l1_coefficient: float,
    l0_coefficient: float,
    y_rms: torch.Tensor,
) -> StepLosses:
    """Feature activations with gradients, and the sparsity penalty of the encoder kind."""
    pre = sd.pre_acts(x)
    zero = pre.new_zeros(())
    if sd.activation == "topk":
        return StepLosses(topk_activations(pre, int(sd.k)), zero, None)  # type: ignore[arg-type]
    if sd.activation == "batchtopk":
        acts, threshold = batch_topk(pre, int(sd.k))  # type: ignore[arg-type]
        return StepLosses(acts, zero, threshold)
    if sd.activation == "jumprelu":
        assert log_threshold is not None
        threshold = log_threshold.exp()
        acts = _JumpReLU.apply(pre, threshold)
        l0 = _Step.apply(pre, threshold).sum(-1).mean()
        return StepLosses(acts, l0_coefficient * l0, None)
    acts = torch.relu(pre)
    l1 = (acts * sd.W_dec.norm(dim=1)).sum(-1).mean() / y_rms
    return StepLosses(acts, l1_coefficient * l1, None)


def aux_k_loss(
    sd: SparseDictionary,
    pre: torch.Tensor,
    residual: torch.Tensor,
    dead: torch.Tensor,
    total_variance: torch.Tensor,
) -> torch.Tensor:
    """Dead latents learn to predict the residual the live ones left (Gao et al., 2024, App. B.1)."""
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    k_aux = max(1, sd.d_out // 2)
    scale = min(n_dead / k_aux, 1.0)
    k_aux = min(k_aux, n_dead)
    masked = torch.where(dead, pre, torch.full_like(pre, -torch.inf))
    values, indices = masked.topk(k_aux, dim=-1, sorted=False)
    aux_acts = torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))
    e_hat = aux_acts @ sd.W_dec
    return scale * (e_hat - residual.detach()).pow(2).sum() / total_variance
