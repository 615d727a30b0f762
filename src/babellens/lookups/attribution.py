"""Which attention heads drive an MLP neuron at one position (step 4 of Neo, Cohen & Barez 2024).

The paper scores head ``h`` by ``A_h = (z_h W_O^h) · w_in``: the head's output at the last
position, projected on the neuron's input weights, ignoring the norm in between. Here ``w_in`` is
replaced by the direction ``d`` through which the residual stream really drives the neuron in
*that* forward pass, ``A_h = c_h · d`` with ``c_h`` the head's contribution to the residual:

* ``direct`` (default for GELU/ReLU MLPs): the pre-MLP norm is frozen at the scale it had at that
  position (``1/rms`` or ``1/std`` of the actual residual, times its weight ``γ``; LayerNorm also
  subtracts the mean, so the mean is projected out of ``d``). The neuron's pre-activation is then
  *exactly* linear in the residual: the heads, embeddings, attention and MLP biases and outputs of
  earlier layers, plus ``β · w_in + b_in``, sum to it. On a gated MLP, ``direct`` decomposes the
  gate's pre-activation the same way.
* ``gradient`` (default for gated MLPs, SwiGLU/GeGLU): ``act = φ(g) · u`` is not linear in the
  residual, so ``d`` is the gradient of the neuron's activation with respect to the residual
  stream entering the pre-MLP norm at that position, through the actual norm (its Jacobian, not
  a frozen scale) and the gate and up projections: the exact first-order effect of each head's
  contribution on the activation (``act(x + ε c_h) - act(x) = ε A_h + O(ε²)``). RMSNorm ignores
  the scale of ``x``, so these values sum to about zero over *all* components; they rank heads
  within a prompt, which is what the active-head rule needs.

Gemma's post-attention norm sits between the heads and the residual: its scale from the same
forward pass is frozen too, so ``c_h = z_h W_O^h / rms(attn_out) ⊙ γ_post`` and the heads' ``c_h``
sum exactly to what the attention block added to the residual. Where the block scales
attention's write before adding it (Granite's ``residual_multiplier``, MiniCPM3's depth scale),
``c_h`` carries that scale too. GPT-NeoX with a parallel residual
feeds the MLP from the block input, so the neuron's own layer's heads never reach it; for the
other families, ``include_own_layer=True`` adds the own layer's heads (which do reach it).
Only the direct path is scored: a head's effect through later attention layers is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch

from babellens.capture.language_model import LanguageModel
from babellens.capture.reductions import last_position
from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter import ModelAdapter
from babellens.models.norms import norm_affine

__all__ = ["AttributionMethod", "HeadAttributions", "active_heads", "head_attributions"]

AttributionMethod = Literal["auto", "direct", "gradient"]


@dataclass
class HeadAttributions:
    values: torch.Tensor
    """``[batch, layer, n_heads]`` float32 on CPU: ``A_h`` of the heads of layers ``0..layer-1``
    (``layer + 1`` rows with ``include_own_layer``)."""
    activation: torch.Tensor
    """``[batch]`` the neuron's activation (``mlp_post``) at each row's last real position."""
    preactivation: torch.Tensor
    """``[batch]`` its pre-activation (``mlp_pre``: the gate's pre-activation for gated MLPs)."""
    method: str
    """``direct`` or ``gradient``: what ``auto`` resolved to."""


@dataclass
class _Recording:
    """What one forward pass leaves behind at each row's last real position."""

    z: torch.Tensor  # [batch, rows, n_heads, head_dim]
    mlp_norm: tuple[torch.Tensor, torch.Tensor]  # input and output of the pre-MLP norm [batch, d]
    post_norms: list[tuple[torch.Tensor, torch.Tensor]]  # per row layer (Gemma), else empty
    activation: torch.Tensor  # [batch]
    preactivation: torch.Tensor  # [batch]


def head_attributions(
    lm: LanguageModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    layer: int,
    neuron: int,
    method: AttributionMethod = "auto",
    *,
    include_own_layer: bool = False,
) -> HeadAttributions:
    """``A_h`` for every head below ``layer``, at the last real position of each (right-padded) row.

    ``auto`` picks ``gradient`` for gated MLPs and ``direct`` otherwise (see the module docstring).
    """
    a = lm.adapter
    if a.spec.routed_attention is not None:  # A_h needs the same heads at every prompt's token
        raise InvalidInputError(
            f"head attribution is unavailable for {a.spec.name}: it has {a.spec.values_problem}; "
            "use attn_z, attn_router_probs and W_O, which are exact"
        )
    if a.uneven_heads is not None:  # values are one [layer, head] grid
        raise InvalidInputError(
            f"head attribution is unavailable for {a.spec.name}: it has {a.uneven_heads}; "
            "use attn_z and W_O layer by layer, which are exact"
        )
    a.check_layer(layer)
    a.check_neuron(neuron)
    if method not in ("auto", "direct", "gradient"):
        raise InvalidInputError(
            f"unknown attribution method {method!r}: use auto, direct or gradient"
        )
    resolved = ("gradient" if a.spec.gated else "direct") if method == "auto" else method
    ids, mask = _checked_inputs(input_ids, attention_mask)
    rows = layer + 1 if include_own_layer else layer
    dtype = torch.promote_types(lm.dtype, torch.float32)
    rec = _record(lm, ids, mask, layer, neuron, rows)
    if resolved == "direct":
        direction = _direct_direction(a, rec, layer, neuron, dtype)
    else:
        direction = _gradient_direction(a, rec, layer, neuron, dtype)
    values = _project(a, rec, direction, rows, dtype)
    if include_own_layer and a.parallel_residual:
        values[:, layer] = 0  # the MLP reads the block input: its own layer's heads never feed it
    return HeadAttributions(
        values=values.float().cpu(),
        activation=rec.activation.float().cpu(),
        preactivation=rec.preactivation.float().cpu(),
        method=resolved,
    )


def active_heads(
    values: torch.Tensor, rule: Literal["mean+2std", "top3"] = "mean+2std", k: int = 3
) -> list[tuple[int, int]]:
    """``(layer, head)`` pairs of one prompt's active heads, the strongest first.

    ``mean+2std``: heads scoring above the mean plus two (population) standard deviations of all
    that prompt's heads, as in the paper; ``top3``: the ``k`` highest-scoring heads.
    """
    if values.ndim != 2:
        raise InvalidInputError("active_heads takes one prompt's values: a [layer, n_heads] tensor")
    flat = values.detach().float().flatten()
    finite = flat[torch.isfinite(flat)]
    if finite.numel() == 0:
        return []
    if rule == "mean+2std":
        threshold = finite.mean() + 2 * finite.std(correction=0)
        chosen = torch.nonzero(torch.isfinite(flat) & (flat > threshold)).flatten()
    elif rule == "top3":
        if k < 1:
            raise InvalidInputError(f"k must be at least 1, got {k}")
        ranked = flat.nan_to_num(nan=float("-inf"), posinf=float("inf"))
        chosen = ranked.topk(min(k, finite.numel())).indices
    else:
        raise InvalidInputError(f"unknown active-head rule {rule!r}: use mean+2std or top3")
    chosen = chosen[flat[chosen].argsort(descending=True)]
    n_heads = values.shape[1]
    return [(int(i) // n_heads, int(i) % n_heads) for i in chosen]


# ---- the forward pass ----------------------------------------------------------------------------
def _checked_inputs(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise InvalidInputError("input_ids must be a non-empty [batch, pos] tensor")
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    if mask.shape != input_ids.shape or bool((mask.sum(dim=1) == 0).any()):
        raise InvalidInputError("attention_mask must match input_ids and keep a token in every row")
    return input_ids, mask


@contextmanager
def _norm_recorder(
    norms: dict[str, torch.nn.Module], last: torch.Tensor
) -> Iterator[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Keep each norm's input and output at the last real positions (norms are not hook points)."""
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    rows = torch.arange(last.shape[0], device=last.device)

    def hook_for(name: str):
        def hook(_m: torch.nn.Module, args: tuple, kwargs: dict, output: torch.Tensor) -> None:
            x = args[0] if args else kwargs["hidden_states"]
            seen[name] = (x[rows, last].clone(), output[rows, last].clone())

        return hook

    handles = [m.register_forward_hook(hook_for(n), with_kwargs=True) for n, m in norms.items()]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def _record(
    lm: LanguageModel, ids: torch.Tensor, mask: torch.Tensor, layer: int, neuron: int, rows: int
) -> _Recording:
    a = lm.adapter
    device = lm.device
    ids, mask = ids.to(device), mask.to(device)
    mlp_norm = a.norm("mlp_in", layer)
    if mlp_norm is None:
        raise InvalidInputError(f"{a.spec.name} has no pre-MLP norm: head attribution needs one")
    norms = {"mlp": mlp_norm}
    if a.spec.norms.get("attn_out"):
        norms |= {f"post{r}": a.norm("attn_out", r) for r in range(rows)}  # type: ignore[misc]
    capture = [f"attn_z.{r}" for r in range(rows)] + [f"mlp_pre.{layer}", f"mlp_post.{layer}"]
    last = mask.long().sum(dim=1) - 1
    with _norm_recorder(norms, last) as seen:  # type: ignore[arg-type]
        acts = lm.run(
            {"input_ids": ids, "attention_mask": mask}, capture=capture, reduce=last_position
        ).activations
    batch, n_heads, head_dim = ids.shape[0], a.n_heads, a.head_dim
    z = [acts[f"attn_z.{r}"] for r in range(rows)]
    return _Recording(
        z=torch.stack(z, dim=1) if z else torch.zeros(batch, 0, n_heads, head_dim, device=device),
        mlp_norm=seen["mlp"],
        post_norms=[seen[f"post{r}"] for r in range(rows)] if len(norms) > 1 else [],
        activation=acts[f"mlp_post.{layer}"][:, neuron],
        preactivation=acts[f"mlp_pre.{layer}"][:, neuron],
    )


# ---- the direction d ---------------------------------------------------------------------------
def _first_weights(
    a: ModelAdapter, layer: int, neuron: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The neuron's column of the matrix that feeds the activation function (gate, else W_in)."""
    if not a.spec.gated:
        weight, bias = a.w_in(layer), a.b_in(layer)
    elif a.spec.gate_up_fused:  # one projection, the gate is its first half
        weight, fused = a.w_gate(layer), getattr(a.module(a.spec.mlp_in, layer), "bias", None)
        bias = None if fused is None else fused.chunk(2)[0]
    else:
        weight = a.w_gate(layer)
        bias = getattr(a.module(a.spec.mlp_gate, layer), "bias", None)  # type: ignore[arg-type]
    column = weight[:, neuron].detach().to(dtype)
    return column, None if bias is None else bias[neuron].detach().to(dtype)


def _direct_direction(
    a: ModelAdapter, rec: _Recording, layer: int, neuron: int, dtype: torch.dtype
) -> torch.Tensor:
    """``[batch, d_model]``: the frozen pre-MLP norm folded into the neuron's input weights."""
    norm = norm_affine(a.norm("mlp_in", layer), a.d_model, dtype)  # type: ignore[arg-type]
    x, y = (t.to(dtype) for t in rec.mlp_norm)
    w, _ = _first_weights(a, layer, neuron, dtype)
    return norm.frozen_direction(w.expand_as(x), norm.inverse_scale(x, y))


def _gradient_direction(
    a: ModelAdapter, rec: _Recording, layer: int, neuron: int, dtype: torch.dtype
) -> torch.Tensor:
    """``[batch, d_model]``: d(activation) / d(residual entering the pre-MLP norm)."""
    norm = a.norm("mlp_in", layer)
    w_first, b_first = _first_weights(a, layer, neuron, dtype)
    w_up = a.w_in(layer)[:, neuron].detach().to(dtype)
    b_up_all = a.b_in(layer)
    b_up = None if b_up_all is None else b_up_all[neuron].detach().to(dtype)
    act_fn = a.module(a.spec.mlp_act, layer)
    with torch.enable_grad():
        x = rec.mlp_norm[0].clone().detach().requires_grad_(True)
        h = norm(x.unsqueeze(1)).squeeze(1).to(dtype)  # type: ignore[misc]
        pre = h @ w_first + (0 if b_first is None else b_first)
        act = act_fn(pre)
        if a.spec.gated:
            act = act * (h @ w_up + (0 if b_up is None else b_up))
        (grad,) = torch.autograd.grad(act.sum(), x)
    _check_recomputed(act.detach(), rec.activation.to(dtype), a.spec.name)
    return grad.to(dtype)


def _check_recomputed(recomputed: torch.Tensor, captured: torch.Tensor, family: str) -> None:
    """The gradient is only right if the MLP formula is; a family that differs must fail loudly."""
    tolerance = 1e-2 * captured.abs().max().clamp_min(1e-3)
    if not torch.allclose(recomputed, captured, rtol=1e-2, atol=float(tolerance)):
        raise InvalidInputError(
            f"gradient attribution cannot reproduce {family}'s MLP activation: use method='direct'"
        )


# ---- projection on the heads ---------------------------------------------------------------------
def _project(
    a: ModelAdapter, rec: _Recording, direction: torch.Tensor, rows: int, dtype: torch.dtype
) -> torch.Tensor:
    """``values[b, l, h] = z[b, l, h] · (W_O^{l,h} e[b, l])``, one batched contraction."""
    batch = direction.shape[0]
    if rows == 0:
        return torch.zeros(batch, 0, a.n_heads, dtype=dtype, device=direction.device)
    e = direction.unsqueeze(1).expand(batch, rows, -1)
    if rec.post_norms:  # Gemma: the post-attention norm at its actual scale sits in between
        e = torch.stack(
            [_through_post_norm(a, r, rec.post_norms[r], e[:, r], dtype) for r in range(rows)],
            dim=1,
        )
    w_o = torch.stack([a.w_o(r).detach().to(dtype) for r in range(rows)])  # [rows, H, hd, d]
    per_head = torch.einsum("lhkd,bld->blhk", w_o.to(e.device), e)
    # Granite, MiniCPM3: the block scales attention's write before adding it to the residual
    scale = torch.tensor([a.residual_scale(r) for r in range(rows)], dtype=dtype)
    return (rec.z.to(dtype) * per_head).sum(-1) * scale.to(e.device)[:, None]


def _through_post_norm(
    a: ModelAdapter,
    layer: int,
    io: tuple[torch.Tensor, torch.Tensor],
    e: torch.Tensor,
    dtype: torch.dtype,
) -> torch.Tensor:
    norm = norm_affine(a.norm("attn_out", layer), a.d_model, dtype)  # type: ignore[arg-type]
    x, y = (t.to(dtype) for t in io)
    return norm.frozen_direction(e, norm.inverse_scale(x, y))
