"""Parity checks shared by the tiny-model tests and the bundled-model integration tests.

Each ``check_*`` compares a BabelLens capture with a plain transformers computation, or with a
hand computation from the adapter's weights, on the given inputs (right-padded
``input_ids``/``attention_mask``). ``tol`` is an absolute and relative tolerance. The
mixture-of-experts checks live in ``parity_experts`` and are imported from here.
"""

from __future__ import annotations

import torch

from babellens.capture import zero_ablate
from parity_experts import (
    check_experts_sum_to_their_output,
    check_mlp_out_is_routed_plus_shared,
    check_shared_neuron_ablation,
)


def close(actual: torch.Tensor, expected: torch.Tensor, tol: float) -> None:
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol)


def _points(lm, kinds):
    return [f"{k}.{layer}" for layer in range(lm.adapter.n_layers) for k in kinds]


def _real(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Only unpadded positions (padding is undefined for some families' norms)."""
    return x[mask.bool()]


def check_residual_stream(lm, inputs, tol):
    n, mask = lm.adapter.n_layers, inputs["attention_mask"]
    out = lm.run(inputs, capture=_points(lm, ["resid_pre", "resid_post"]))
    with torch.inference_mode():
        hidden = lm.model(**inputs, output_hidden_states=True).hidden_states
        for layer in range(n):
            close(_real(out[f"resid_pre.{layer}"], mask), _real(hidden[layer], mask), tol)
        for layer in range(n - 1):  # HF's last hidden state has the final norm applied
            close(_real(out[f"resid_post.{layer}"], mask), _real(hidden[layer + 1], mask), tol)
        final = lm.adapter.final_norm(out[f"resid_post.{n - 1}"])
        close(_real(final, mask), _real(hidden[n], mask), tol)


def _gate_points(lm, layers) -> list[str]:
    """Routed attention (JetMoE): the router's gates, needed to sum the heads."""
    routed = lm.adapter.spec.routed_attention is not None
    return [f"attn_router_probs.{layer}" for layer in layers] if routed else []


def _head_gates(lm, out, layer, z: torch.Tensor) -> torch.Tensor:
    """``[batch, pos, n_heads]``: what each head's output is multiplied by before the sum: 1,
    or for routed heads the gate of the head's expert (head h * n_experts + e: expert e's)."""
    if lm.adapter.spec.routed_attention is None:
        return torch.ones(z.shape[:-1], dtype=z.dtype)
    probs = out[f"attn_router_probs.{layer}"]
    return probs.repeat(1, 1, lm.adapter.heads_at(layer) // probs.shape[-1])


def check_heads_sum_to_attn_out(lm, inputs, tol):
    """sum_h gate_h * z_h @ W_O^h + b_O is attn_out (gate 1 unless heads are routed); a routed
    head's output is NaN exactly where its gate is 0 (the token was not routed to it)."""
    a = lm.adapter
    layers = range(a.n_layers)
    out = lm.run(inputs, capture=_points(lm, ["attn_z", "attn_out"]) + _gate_points(lm, layers))
    with torch.inference_mode():
        for layer in layers:
            z = out[f"attn_z.{layer}"]
            assert z.shape == (*inputs["input_ids"].shape, a.heads_at(layer), a.head_dim)
            gates = _head_gates(lm, out, layer, z)
            assert torch.equal(z.isnan().all(dim=-1), gates == 0)
            per_head = torch.einsum("bphd,hdm->bphm", z.nan_to_num(0.0), a.w_o(layer))
            total = (per_head * gates.unsqueeze(-1)).sum(dim=2)
            total = total + (a.b_o(layer) if a.b_o(layer) is not None else 0)
            close(total, out[f"attn_out.{layer}"], tol)


def _dense_layers(lm) -> list[int]:
    return [layer for layer in range(lm.adapter.n_layers) if not lm.adapter.is_moe_layer(layer)]


def check_neurons_times_w_out(lm, inputs, tol):
    a = lm.adapter
    dense = _dense_layers(lm)
    out = lm.run(
        inputs, capture=[f"{k}.{layer}" for layer in dense for k in ("mlp_post", "mlp_out")]
    )
    with torch.inference_mode():
        for layer in dense:
            post = out[f"mlp_post.{layer}"]
            assert post.shape == (*inputs["input_ids"].shape, a.d_mlp)
            expected = post @ a.w_out(layer) + (a.b_out(layer) if a.b_out(layer) is not None else 0)
            close(expected, out[f"mlp_out.{layer}"], tol)


def check_mlp_input_weights(lm, inputs, tol, layer=1):
    """W_in, W_gate and the activation rebuild mlp_pre and mlp_post from the MLP's input
    (on the last dense layer up to ``layer``; a model whose every layer routes has none)."""
    a = lm.adapter
    dense = [d for d in _dense_layers(lm) if d <= layer] or _dense_layers(lm)
    if not dense:
        return
    layer = dense[-1]
    seen = {}
    mlp = a.module(a.spec.mlp_input_module, layer)
    handle = mlp.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0].clone()))
    try:
        out = lm.run(inputs, capture=[f"mlp_in.{layer}", f"mlp_pre.{layer}", f"mlp_post.{layer}"])
    finally:
        handle.remove()
    with torch.inference_mode():
        # the same values; OPT's MLP sees them as flattened [batch * pos] rows
        x, act = seen["x"].reshape(out[f"mlp_in.{layer}"].shape), a.module(a.spec.mlp_act, layer)
        close(out[f"mlp_in.{layer}"], x, tol)  # the hook point is the MLP module's own input
        b_in = a.b_in(layer) if a.b_in(layer) is not None else 0
        up = x @ a.w_in(layer) + b_in
        if a.spec.gated:
            gate = x @ a.w_gate(layer)
            close(out[f"mlp_pre.{layer}"], gate, tol)
            expected_post = act(gate) * up
        else:
            close(out[f"mlp_pre.{layer}"], up, tol)
            expected_post = act(up)
        close(out[f"mlp_post.{layer}"], expected_post, tol)


def _latent_values(a, layer, x):
    """Multi-latent attention by hand: ``kv_up(kv_norm(kv_down(x)[:rank]))``, per head
    ``[k_nope | v]``; the value is each head's last ``head_dim`` columns."""
    latent = a.spec.latent
    norm = a.module(latent.kv_norm, layer)
    rank = norm.weight.shape[0]
    normed = norm(a.module(latent.kv_down, layer)(x)[..., :rank])
    if latent.scale:
        normed = normed * getattr(a.module(a.spec.attn, layer), latent.scale)
    kv = a.module(latent.kv_up, layer)(normed)
    return kv.reshape(a.heads_at(layer), -1)[:, -a.head_dim :]


def _linear_values(a, layer, x):
    group = a.heads_at(layer) // a.kv_heads_at(layer)
    b_v = a.b_qkv(layer)[2]
    values = torch.einsum("d,kde->ke", x, a.w_v(layer)) + (b_v if b_v is not None else 0)
    return values.repeat_interleave(group, dim=0)


def _sink_scale(a, attn, layer, x):
    """Granite SWA's sink share on one token at position 0 (rotary is the identity there):
    ``sigmoid(q.k * scaling - sink)`` per head."""
    b_q, b_k, _ = a.b_qkv(layer)
    q = torch.einsum("d,hde->he", x, a.w_q(layer)) + (b_q if b_q is not None else 0)
    k = torch.einsum("d,kde->ke", x, a.w_k(layer)) + (b_k if b_k is not None else 0)
    k = k.repeat_interleave(a.heads_at(layer) // a.kv_heads_at(layer), dim=0)
    return torch.sigmoid((q * k).sum(-1) * attn.scaling - attn.sinks)


def _output_gates(a, attn, logits: torch.Tensor, layer: int) -> torch.Tensor:
    """``[heads, 1 or head_dim]``: the gate on each head's output, from the gate projection's
    output (each head's last ``head_dim`` columns, or its one column) plus any per-head bias."""
    heads, gate = a.heads_at(layer), a.spec.gate
    logits = logits.reshape(heads, -1)[:, -a.head_dim :]
    bias = getattr(attn, gate.bias) if gate.bias else torch.zeros(heads)
    logits = logits + bias.unsqueeze(-1)
    if gate.activation == "softplus":
        return torch.nn.functional.softplus(logits.float()).to(logits.dtype)
    return torch.sigmoid(logits)


def check_value_weights_single_token(lm, tol, layer=2):
    """With one token, z_h = s_h g_h v_h: v_h its value (x W_V^{kv(h)} + b_V, or the latent
    path of multi-latent attention), g_h the output gate (1 without one), s_h the token's
    share of its own attention: 1 for a plain softmax, below 1 where sinks take a share
    (read from the pattern, or by hand where the sink scales the output outside it). Routed
    heads exist only for the experts the token was routed to (NaN for the others)."""
    a, spec = lm.adapter, lm.adapter.spec
    seen = {}
    attn = a.module(spec.attn, layer)

    def grab(_m, args, kwargs):
        seen.update(x=(args[0] if args else kwargs["hidden_states"]).clone())

    handles = [attn.register_forward_pre_hook(grab, with_kwargs=True)]
    if spec.gate is not None:
        gate = a.module(spec.gate.proj, layer)
        handles.append(gate.register_forward_hook(lambda _m, _a, o: seen.update(gate=o.clone())))
    sinks = hasattr(attn, "sinks") and not spec.sinks_scale_output
    points = [f"attn_z.{layer}", *([f"attn_pattern.{layer}"] if sinks else [])]
    points += _gate_points(lm, [layer])
    try:
        out = lm.run(torch.tensor([[5]]), capture=points)
    finally:
        for handle in handles:
            handle.remove()
    z = out[points[0]][0, 0]
    with torch.inference_mode():
        x = seen["x"][0, 0]
        values = _latent_values(a, layer, x) if spec.latent else _linear_values(a, layer, x)
        ones = torch.ones(a.heads_at(layer), dtype=values.dtype)
        share = out[points[1]][0, :, 0, 0] if sinks else ones
        if spec.sinks_scale_output:
            share = _sink_scale(a, attn, layer, x)
        gates = ones.unsqueeze(-1)
        if spec.gate is not None:
            gates = _output_gates(a, attn, seen["gate"][0, 0], layer)
        routed = _head_gates(lm, out, layer, z[None, None])[0, 0] != 0  # routed heads: only
        assert torch.equal(z.isnan().all(dim=-1), ~routed)  # those the token was routed to
        close(z[routed], (share.unsqueeze(-1) * gates * values)[routed], tol)


def check_unembedding(lm, inputs, tol):
    a = lm.adapter
    last = a.n_layers - 1
    out = lm.run(inputs, capture=[f"resid_post.{last}"], logits=True)
    with torch.inference_mode():
        logits = a.final_norm(out[f"resid_post.{last}"]) @ a.w_u + (
            a.b_u if a.b_u is not None else 0
        )
        logits = logits * a.logit_scale
        cap = getattr(lm.model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
    close(logits, out.logits, tol)


def check_early_stop(lm, inputs):
    points = ["resid_post.0", "mlp_out.1", "attn_z.1"]
    stopped = lm.run(inputs, capture=points)
    full = lm.run(inputs, capture=points, logits=True)
    assert stopped.logits is None and full.logits is not None
    for p in points:  # routed heads are NaN where not routed, in both runs
        torch.testing.assert_close(stopped[p], full[p], atol=0.0, rtol=0.0, equal_nan=True)
    calls = []
    a = lm.adapter
    handles = [
        a.block(i).register_forward_hook(lambda *_x, i=i: calls.append(i))
        for i in range(a.n_layers)
    ]
    handles.append(
        a.module(a.spec.unembed).register_forward_hook(lambda *_x: calls.append("unembed"))
    )
    try:
        lm.run(inputs, capture=["mlp_out.1"])
    finally:
        for h in handles:
            h.remove()
    assert calls == [0, 1]


def check_head_ablation(lm, inputs, tol, layer=1, head=2):
    a = lm.adapter
    points = [f"resid_post.{layer - 1}", f"resid_pre.{layer}", f"resid_post.{a.n_layers - 1}"]
    clean = lm.run(inputs, capture=points, logits=True)
    ablate = [zero_ablate(f"attn_z.{layer}", heads=[head])]
    ablated = lm.run(inputs, capture=points, logits=True, interventions=ablate)
    close(ablated[points[0]], clean[points[0]], 0.0)  # upstream: untouched
    close(ablated[points[1]], clean[points[1]], 0.0)
    assert not torch.allclose(ablated.logits, clean.logits)

    handle = a.module(a.spec.attn_o, layer).register_forward_pre_hook(_zero_by_hand(a, head))
    try:
        with torch.inference_mode():
            manual = lm.model(**inputs).logits
    finally:
        handle.remove()
    close(ablated.logits, manual, tol)


def _zero_by_hand(a, head):
    """A pre-hook on W_O zeroing head ``head``'s slice of its input. Routed heads (JetMoE):
    W_O runs per expert on rows sorted by expert, ``expert_size`` rows each, so head
    h * n_experts + e is kv head h's columns of expert e's block of rows."""
    hd = a.head_dim

    def plain(_m, args):
        x = args[0].clone()
        x[..., head * hd : (head + 1) * hd] = 0
        return (x, *args[1:])

    def routed(_m, args):
        x, sizes = args[0].clone(), args[1]
        kv, expert = divmod(head, len(sizes))
        start = sum(sizes[:expert])
        x[start : start + sizes[expert], kv * hd : (kv + 1) * hd] = 0
        return (x, *args[1:])

    return routed if a.spec.routed_attention is not None else plain


def check_block_is_the_sum_of_its_writes(lm, inputs, tol):
    """Pre-norm blocks without post-attention/post-MLP norms: the residual stream leaving a block
    is the one entering it plus attn_out plus mlp_out, each times the block's declared residual
    scale (so attn_out and mlp_out are all that attention and the MLP write: no bias added
    outside them)."""
    a = lm.adapter
    if "attn_in" not in a.spec.norms or {"attn_out", "mlp_out"} & set(a.spec.norms):
        return
    kinds = ("resid_pre", "attn_out", "mlp_out", "resid_post")
    out = lm.run(inputs, capture=_points(lm, kinds))
    mask = inputs["attention_mask"]
    for layer in range(a.n_layers):
        pre, attn, mlp, post = (out[f"{k}.{layer}"] for k in kinds)
        scale = a.residual_scale(layer)
        close(_real(pre + attn * scale + mlp * scale, mask), _real(post, mask), tol)


ALL_BATCH_CHECKS = [
    check_experts_sum_to_their_output,
    check_mlp_out_is_routed_plus_shared,
    check_shared_neuron_ablation,
    check_residual_stream,
    check_heads_sum_to_attn_out,
    check_neurons_times_w_out,
    check_mlp_input_weights,
    check_unembedding,
    check_head_ablation,
    check_block_is_the_sum_of_its_writes,
]
