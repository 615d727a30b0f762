"""Parity checks of mixture-of-experts layers, shared by the tiny-model tests and the sweep.

Routed experts: their neurons times their W_out, weighted by the router, are the experts
module's output. Shared experts: ``mlp_out`` is the routed output plus the shared expert's
gate x (shared_post @ W_out_shared), nothing else, and an edit of a shared neuron is what a
plain hook on the shared down projection's input does. Re-exported by ``parity_checks``.
"""

from __future__ import annotations

import torch

from babellens.capture import zero_ablate


def close(actual: torch.Tensor, expected: torch.Tensor, tol: float) -> None:
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol)


def check_experts_sum_to_their_output(lm, inputs, tol):
    """Per MoE layer: sum_e weight_e * (expert_post_e @ W_out_e) is the experts module's output;
    the activations are NaN exactly where the routing weight is 0 (not routed)."""
    a = lm.adapter
    seen = {}
    handles = [
        a.experts(layer).register_forward_hook(
            lambda _m, _a, out, layer=layer: seen.update({layer: out.clone()})
        )
        for layer in a.moe_layers
    ]
    points = [f"{k}.{layer}" for layer in a.moe_layers for k in ("router_probs", "expert_post")]
    try:
        out = lm.run(inputs, capture=points)
    finally:
        for h in handles:
            h.remove()
    scaled = a.spec.experts_router is not None  # Llama 4: the score scaled the input already
    with torch.inference_mode():
        for layer in a.moe_layers:
            weights, post = out[f"router_probs.{layer}"], out[f"expert_post.{layer}"]
            assert post.shape == (*inputs["input_ids"].shape, a.n_experts, a.d_expert)
            assert torch.equal(post.isnan().all(dim=-1), weights == 0)
            if scaled:  # each expert's block of rows, summed as the model sums them
                seen[layer] = seen[layer].reshape(a.n_experts, -1, a.d_model).sum(dim=0)
            total = _routed_by_hand(a, layer, weights, post)
            close(total.reshape(seen[layer].shape), seen[layer], tol)


def _routed_by_hand(a, layer, weights, post):
    """``[batch, pos, d_model]``: sum_e weight_e * (expert_post_e @ W_out_e) plus the experts'
    biases, what the experts module returns (Llama 4: its rows came scaled by the weights, so
    each routed expert counts once)."""
    per_expert = torch.einsum("bpen,enm->bpem", post.nan_to_num(0.0), a.w_out_experts(layer))
    if a.spec.experts_router is not None:
        weights = (weights != 0).to(per_expert.dtype)
    total = (per_expert * weights.unsqueeze(-1)).sum(dim=2)
    b_out = a.b_out_experts(layer)  # GPT-OSS: each routed expert adds its bias too
    if b_out is not None:
        total = total + weights @ b_out
    b_once = a.b_experts(layer)  # JetMoE: one bias, added once whatever was routed
    return total if b_once is None else total + b_once


def _shared_writes(a, layer, out):
    """What layer ``layer``'s shared expert adds to mlp_out, by hand from shared_post:
    gate * (post @ W_out_shared + b_out_shared), the gate 1 unless the family gates it."""
    post = out[f"shared_post.{layer}"]
    b_out = a.b_out_shared(layer)
    written = post @ a.w_out_shared(layer) + (b_out if b_out is not None else 0)
    return a.shared_gate(layer, out[f"mlp_in.{layer}"]) * written


def check_mlp_out_is_routed_plus_shared(lm, inputs, tol):
    """Per MoE layer: mlp_out is the routed experts' output (by hand, times the MLP's scale of
    it) plus the shared expert's gate * (shared_post @ W_out_shared + b): nothing else writes."""
    a = lm.adapter
    kinds = ("router_probs", "expert_post", "mlp_in", "mlp_out")
    points = [f"{k}.{layer}" for layer in a.moe_layers for k in kinds]
    if not a.moe_layers:
        return
    points += [f"shared_post.{layer}" for layer in a.shared_layers]
    out = lm.run(inputs, capture=points)
    with torch.inference_mode():
        for layer in a.moe_layers:
            routed = out[f"router_probs.{layer}"], out[f"expert_post.{layer}"]
            total = _routed_by_hand(a, layer, *routed) * a.experts_scale(layer)
            if a.has_shared_expert(layer):
                post = out[f"shared_post.{layer}"]
                assert post.shape == (*inputs["input_ids"].shape, a.d_shared(layer))
                total = total + _shared_writes(a, layer, out)
            norm = a.experts_post_norm(layer)  # AXK1: a norm inside the MoE module, last
            close(norm(total) if norm else total, out[f"mlp_out.{layer}"], tol)


def check_shared_neuron_ablation(lm, inputs, tol, neuron=1):
    """Zeroing a shared neuron removes exactly gate * post_n * W_out_shared[n] from mlp_out
    (before the MoE module's own norm, where it has one: AXK1), and gives the logits of a plain
    hook zeroing that input of the shared down projection."""
    a = lm.adapter
    if not a.shared_layers:
        return
    layer = a.shared_layers[-1]
    post_norm = a.experts_post_norm(layer)
    seen = {}
    handles = (
        [  # a plain hook on that norm's input: the sum before it
            post_norm.register_forward_pre_hook(lambda _m, args: seen.update(sum=args[0].clone()))
        ]
        if post_norm is not None
        else []
    )
    points = [f"mlp_in.{layer}", f"shared_post.{layer}", f"mlp_out.{layer}"]
    try:
        clean = lm.run(inputs, capture=points)
    finally:
        for h in handles:
            h.remove()
    ablate = [zero_ablate(f"shared_post.{layer}", neurons=[neuron])]
    ablated = lm.run(inputs, capture=points[2:], logits=True, interventions=ablate)
    with torch.inference_mode():
        gate = a.shared_gate(layer, clean[points[0]])
        removed = gate * clean[points[1]][..., neuron : neuron + 1] * a.w_out_shared(layer)[neuron]
        assert removed.abs().max() > 0
        before_norm = seen.get("sum", clean[points[2]]).reshape(removed.shape)
        finish = post_norm if post_norm is not None else torch.nn.Identity()
        close(ablated[points[2]], finish(before_norm - removed), tol)

    def zero(_m, args):
        x = args[0].clone()
        x[..., neuron] = 0
        return (x, *args[1:])

    handle = a.module(a.spec.shared_down, layer).register_forward_pre_hook(zero)
    try:
        with torch.inference_mode():
            manual = lm.model(**inputs).logits
    finally:
        handle.remove()
    close(ablated.logits, manual, tol)
