"""Every hook point agrees with a plain transformers computation, for every family."""

from __future__ import annotations

import torch

from babellens.capture import zero_ablate
from tiny_models import tiny_inputs

ATOL = 1e-5


def _all_points(lm, kinds):
    return [f"{k}.{layer}" for layer in range(lm.adapter.n_layers) for k in kinds]


def test_residual_stream_matches_hidden_states(tiny):
    ids, mask = tiny_inputs()
    n = tiny.adapter.n_layers
    out = tiny.run(
        {"input_ids": ids, "attention_mask": mask},
        capture=_all_points(tiny, ["resid_pre", "resid_post"]),
    )
    with torch.inference_mode():
        hidden = tiny.model(
            input_ids=ids, attention_mask=mask, output_hidden_states=True
        ).hidden_states
    for layer in range(n):
        torch.testing.assert_close(out[f"resid_pre.{layer}"], hidden[layer], atol=ATOL, rtol=0)
    for layer in range(n - 1):  # HF's last hidden state has the final norm applied
        torch.testing.assert_close(out[f"resid_post.{layer}"], hidden[layer + 1], atol=ATOL, rtol=0)
    final = tiny.adapter.final_norm(out[f"resid_post.{n - 1}"])
    torch.testing.assert_close(final, hidden[n], atol=ATOL, rtol=0)


def test_heads_times_w_o_sum_to_attn_out(tiny):
    ids, mask = tiny_inputs()
    a = tiny.adapter
    out = tiny.run(
        {"input_ids": ids, "attention_mask": mask},
        capture=_all_points(tiny, ["attn_z", "attn_out"]),
    )
    for layer in range(a.n_layers):
        z = out[f"attn_z.{layer}"]
        assert z.shape == (*ids.shape, a.n_heads, a.head_dim)
        per_head = torch.einsum("bphd,hdm->bphm", z, a.w_o(layer))
        total = per_head.sum(dim=2) + (a.b_o(layer) if a.b_o(layer) is not None else 0)
        torch.testing.assert_close(total, out[f"attn_out.{layer}"], atol=ATOL, rtol=0)


def test_neurons_times_w_out_equal_mlp_out(tiny):
    ids, mask = tiny_inputs()
    a = tiny.adapter
    out = tiny.run(
        {"input_ids": ids, "attention_mask": mask},
        capture=_all_points(tiny, ["mlp_post", "mlp_out"]),
    )
    for layer in range(a.n_layers):
        post = out[f"mlp_post.{layer}"]
        assert post.shape == (*ids.shape, a.d_mlp)
        expected = post @ a.w_out(layer) + (a.b_out(layer) if a.b_out(layer) is not None else 0)
        torch.testing.assert_close(expected, out[f"mlp_out.{layer}"], atol=ATOL, rtol=0)


def test_mlp_input_weights_reproduce_neurons(tiny):
    """W_in, W_gate and the activation rebuild mlp_pre and mlp_post from the MLP's input."""
    ids, mask = tiny_inputs()
    a = tiny.adapter
    layer = 1
    seen = {}
    mlp = a.module(a.spec.mlp, layer)
    handle = mlp.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0].clone()))
    try:
        out = tiny.run(
            {"input_ids": ids, "attention_mask": mask},
            capture=[f"mlp_pre.{layer}", f"mlp_post.{layer}"],
        )
    finally:
        handle.remove()
    x, act = seen["x"], a.module(a.spec.mlp_act, layer)
    b_in = a.b_in(layer) if a.b_in(layer) is not None else 0
    up = x @ a.w_in(layer) + b_in
    if a.spec.gated:
        gate = x @ a.w_gate(layer)
        torch.testing.assert_close(out[f"mlp_pre.{layer}"], gate, atol=ATOL, rtol=0)
        expected_post = act(gate) * up
    else:
        torch.testing.assert_close(out[f"mlp_pre.{layer}"], up, atol=ATOL, rtol=0)
        expected_post = act(up)
    torch.testing.assert_close(out[f"mlp_post.{layer}"], expected_post, atol=ATOL, rtol=0)


def test_value_weights_single_token(tiny):
    """With one token, attention attends only to itself, so z_h = x W_V^{kv(h)} + b_V."""
    a = tiny.adapter
    layer = 2
    ids = torch.tensor([[5]])
    seen = {}
    attn = a.module(a.spec.attn, layer)
    handle = attn.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.update(
            x=(args[0] if args else kwargs["hidden_states"]).clone()
        ),
        with_kwargs=True,
    )
    try:
        z = tiny.run(ids, capture=[f"attn_z.{layer}"])[f"attn_z.{layer}"][0, 0]
    finally:
        handle.remove()
    x = seen["x"][0, 0]
    group = a.n_heads // a.n_kv_heads
    b_v = a.b_qkv(layer)[2]
    for head in range(a.n_heads):
        kv = head // group
        expected = x @ a.w_v(layer)[kv] + (b_v[kv] if b_v is not None else 0)
        torch.testing.assert_close(z[head], expected, atol=ATOL, rtol=0)


def test_unembedding_reproduces_logits(tiny):
    ids, mask = tiny_inputs()
    a = tiny.adapter
    last = a.n_layers - 1
    out = tiny.run(
        {"input_ids": ids, "attention_mask": mask}, capture=[f"resid_post.{last}"], logits=True
    )
    logits = a.final_norm(out[f"resid_post.{last}"]) @ a.w_u + (a.b_u if a.b_u is not None else 0)
    cap = getattr(tiny.model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    torch.testing.assert_close(logits, out.logits, atol=1e-4, rtol=0)


def test_early_stop_captures_exactly_what_a_full_pass_captures(tiny):
    ids, mask = tiny_inputs()
    points = ["resid_post.0", "mlp_post.1", "attn_z.1"]
    stopped = tiny.run({"input_ids": ids, "attention_mask": mask}, capture=points)
    full = tiny.run({"input_ids": ids, "attention_mask": mask}, capture=points, logits=True)
    assert stopped.logits is None and full.logits is not None
    for p in points:
        torch.testing.assert_close(stopped[p], full[p], atol=0, rtol=0)


def test_early_stop_skips_later_layers(tiny):
    a = tiny.adapter
    calls = []
    handles = [
        a.block(layer).register_forward_hook(lambda *_x, i=layer: calls.append(i))
        for layer in range(a.n_layers)
    ]
    unembed = a.module(a.spec.unembed).register_forward_hook(lambda *_x: calls.append("unembed"))
    try:
        tiny.run(torch.tensor([[3, 4, 5]]), capture=["mlp_post.1"])
    finally:
        for h in [*handles, unembed]:
            h.remove()
    assert calls == [0, 1]


def test_zero_ablating_a_head_matches_hand_made_ablation(tiny):
    ids, mask = tiny_inputs()
    a = tiny.adapter
    layer, head = 1, 2
    points = [f"resid_post.{layer - 1}", f"resid_pre.{layer}", f"resid_post.{a.n_layers - 1}"]
    inputs = {"input_ids": ids, "attention_mask": mask}
    clean = tiny.run(inputs, capture=points, logits=True)
    ablated = tiny.run(
        inputs,
        capture=points,
        logits=True,
        interventions=[zero_ablate(f"attn_z.{layer}", heads=[head])],
    )
    # upstream: untouched
    torch.testing.assert_close(ablated[points[0]], clean[points[0]], atol=0, rtol=0)
    torch.testing.assert_close(ablated[points[1]], clean[points[1]], atol=0, rtol=0)
    assert not torch.allclose(ablated.logits, clean.logits)

    def by_hand(_m, args):
        x = args[0].clone()
        x[..., head * a.head_dim : (head + 1) * a.head_dim] = 0
        return (x, *args[1:])

    handle = a.module(a.spec.attn_o, layer).register_forward_pre_hook(by_hand)
    try:
        with torch.inference_mode():
            manual = tiny.model(input_ids=ids, attention_mask=mask).logits
    finally:
        handle.remove()
    torch.testing.assert_close(ablated.logits, manual, atol=ATOL, rtol=0)
