"""JetMoE's routed experts and routed attention heads on a tiny random model, each number
against a computation written here from the model's own weights (router, ``input_linear``,
``output_linear``, ``kv_proj``, the rotary embedding), not with BabelLens's code."""

from __future__ import annotations

import pytest
import torch
from transformers.models.jetmoe import modeling_jetmoe as jetmoe

from babellens.capture import replace, scale, zero_ablate
from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from models.tiny_configs import build_tiny
from module_inputs import run_seeing_input, seeded_ids
from parity_checks import check_head_ablation

TOL = 1e-5


@pytest.fixture(scope="module")
def lm() -> LanguageModel:
    return LanguageModel(build_tiny("jetmoe"), None, name="jetmoe", source="config")


def _top_k(router: torch.nn.Module, x: torch.Tensor, k: int):
    """(chosen experts [n, k], their gates [n, k]: the softmax over the top-k logits only)."""
    top, chosen = (x @ router.layer.weight.T).topk(k, dim=-1)
    return chosen, top.softmax(dim=-1)


def _dense(chosen: torch.Tensor, gates: torch.Tensor, n_experts: int) -> torch.Tensor:
    return torch.zeros(chosen.shape[0], n_experts).scatter(1, chosen, gates)


# ---- MLP experts ---------------------------------------------------------------------------
def test_router_probs_are_the_softmax_over_the_routers_own_top_k_logits(lm):
    mlp, k = lm.model.model.layers[1].mlp, lm.model.config.num_experts_per_tok
    x, out = run_seeing_input(lm, mlp, seeded_ids(), ["router_probs.1"])
    x = x[0]
    chosen, gates = _top_k(mlp.router, x, k)
    probs = out["router_probs.1"][0]
    torch.testing.assert_close(probs, _dense(chosen, gates, lm.adapter.n_experts))
    assert ((probs > 0).sum(dim=-1) == k).all()
    torch.testing.assert_close(probs.sum(dim=-1), torch.ones(x.shape[0]))  # not the full softmax


def test_expert_neurons_match_silu_of_the_first_half_times_the_second_by_hand(lm):
    mlp, k = lm.model.model.layers[0].mlp, lm.model.config.num_experts_per_tok
    x, out = run_seeing_input(lm, mlp, seeded_ids(), ["expert_post.0", "mlp_out.0"])
    x = x[0]
    chosen, gates = _top_k(mlp.router, x, k)
    post = out["expert_post.0"][0]
    expected = torch.full_like(post, float("nan"))
    total = mlp.bias.expand(x.shape[0], -1).clone()
    for token, slot in torch.cartesian_prod(torch.arange(x.shape[0]), torch.arange(k)).tolist():
        expert = int(chosen[token, slot])
        first, second = (x[token] @ mlp.input_linear.weight[expert].T).chunk(2)
        expected[token, expert] = torch.nn.functional.silu(first) * second
        total[token] += gates[token, slot] * (
            expected[token, expert] @ mlp.output_linear.weight[expert].T
        )
    torch.testing.assert_close(post, expected, atol=TOL, rtol=TOL, equal_nan=True)
    assert post.isnan().all(dim=-1).sum() == x.shape[0] * (lm.adapter.n_experts - k)
    torch.testing.assert_close(out["mlp_out.0"][0], total, atol=TOL, rtol=TOL)


# ---- routed attention ------------------------------------------------------------------------
def _attention_by_hand(lm: LanguageModel, layer: int, x: torch.Tensor):
    """(pattern [kv*E, n, n], z [n, kv*E, hd], attn_out [n, d], gates [n, E]) of JetMoE's mixture
    of attention from its modules: head h * E + e is kv head h of expert e, NaN where the token
    was not routed to e."""
    attn, cfg = lm.model.model.layers[layer].self_attention, lm.model.config
    n_exp, k, kv, hd = (
        cfg.num_local_experts,
        cfg.num_experts_per_tok,
        cfg.num_key_value_heads,
        cfg.kv_channels,
    )
    n = x.shape[0]
    chosen, gates = _top_k(attn.experts.router, x, k)
    keys, values = (x @ attn.kv_proj.weight.T).chunk(2, dim=-1)
    keys, values = (t.view(n, kv, hd).transpose(0, 1)[None] for t in (keys, values))
    cos, sin = lm.model.model.rotary_emb(x[None], torch.arange(n)[None])
    causal = torch.ones(n, n, dtype=torch.bool).triu(1)
    pattern = torch.full((kv, n_exp, n, n), float("nan"))
    z = torch.full((n, kv, n_exp, hd), float("nan"))
    out = attn.experts.bias.expand(n, -1).clone()
    for expert in range(n_exp):
        queries = (x @ attn.experts.input_linear.weight[expert].T).view(n, kv, hd).transpose(0, 1)
        q_rot, k_rot = jetmoe.apply_rotary_pos_emb(queries[None], keys, cos, sin)
        scores = (q_rot @ k_rot.transpose(-1, -2))[0] * hd**-0.5
        probs = scores.masked_fill(causal, float("-inf")).softmax(dim=-1)  # [kv, n, n]
        heads = (probs @ values[0]).transpose(0, 1)  # [n, kv, hd]
        for token, slot in (chosen == expert).nonzero().tolist():
            pattern[:, expert, token] = probs[:, token]
            z[token, :, expert] = heads[token]
            w_o = attn.experts.output_linear.weight[expert]
            out[token] += gates[token, slot] * (heads[token].reshape(-1) @ w_o.T)
    dense = _dense(chosen, gates, n_exp)
    return pattern.reshape(kv * n_exp, n, n), z.reshape(n, kv * n_exp, hd), out, dense


@pytest.mark.parametrize("layer", [0, 1])
def test_routed_heads_match_a_hand_computation_from_kv_proj_and_the_expert_w_q(lm, layer):
    attn = lm.adapter.module(lm.adapter.spec.attn, layer)
    kinds = ("attn_z", "attn_pattern", "attn_out", "attn_router_probs")
    x, out = run_seeing_input(lm, attn, seeded_ids(), [f"{kind}.{layer}" for kind in kinds])
    x = x[0]
    pattern, z, attn_out, gates = _attention_by_hand(lm, layer, x)
    same = {"atol": TOL, "rtol": TOL, "equal_nan": True}
    torch.testing.assert_close(out[f"attn_pattern.{layer}"][0], pattern, **same)
    torch.testing.assert_close(out[f"attn_z.{layer}"][0], z, **same)
    torch.testing.assert_close(out[f"attn_out.{layer}"][0], attn_out, atol=TOL, rtol=TOL)
    torch.testing.assert_close(out[f"attn_router_probs.{layer}"][0], gates)
    k, n_heads = lm.model.config.num_experts_per_tok, lm.adapter.n_heads
    routed_heads = (~out[f"attn_z.{layer}"][0].isnan().all(dim=-1)).sum(dim=-1)
    assert routed_heads.tolist() == [k * lm.adapter.n_kv_heads] * x.shape[0]
    assert n_heads == lm.model.config.num_local_experts * lm.adapter.n_kv_heads


def _routed_rows_hook(lm: LanguageModel, layer: int, head: int, edit):
    """Hooks that apply ``edit(rows)`` by hand to head ``head``'s slice of W_O's input rows:
    expert e's block of rows (sorted by expert), kv head h's columns; ``edit`` also gets each
    row's token from the router's ``batch_index``."""
    attn = lm.model.model.layers[layer].self_attention
    n_exp, hd = lm.model.config.num_local_experts, lm.model.config.kv_channels
    kv, expert = divmod(head, n_exp)
    seen = {}

    def router_hook(_m, _args, output):
        seen["tokens"] = output[1]

    def rows_hook(_m, args):
        x, sizes = args[0].clone(), args[1]
        start = sum(sizes[:expert])
        block = slice(start, start + sizes[expert])
        cols = slice(kv * hd, (kv + 1) * hd)
        x[block, cols] = edit(x[block, cols], seen["tokens"][block])
        return (x, *args[1:])

    return [
        attn.experts.router.register_forward_hook(router_hook),
        attn.experts.output_linear.register_forward_pre_hook(rows_hook),
    ]


def _logits_by_hand(lm: LanguageModel, ids, handles) -> torch.Tensor:
    try:
        return lm.model(input_ids=ids).logits
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("head", [0, 5, 7])
def test_zero_ablating_a_routed_head_is_zeroing_its_rows_by_hand(lm, head):
    ids = seeded_ids(9)
    ablated = lm.run(ids, logits=True, interventions=[zero_ablate("attn_z.1", heads=[head])])
    clean = lm.run(ids, logits=True)
    by_hand = _logits_by_hand(
        lm, ids, _routed_rows_hook(lm, 1, head, lambda rows, _t: torch.zeros_like(rows))
    )
    torch.testing.assert_close(ablated.logits, by_hand, atol=TOL, rtol=TOL)
    assert not torch.allclose(ablated.logits, clean.logits)


def test_scaling_a_routed_head_at_one_position_is_scaling_that_row_by_hand(lm):
    ids, head, position = seeded_ids(9), 6, 4
    edit = scale("attn_z.0", 0.25, heads=[head], positions=[position])
    scaled = lm.run(ids, logits=True, interventions=[edit])

    def by_hand(rows, tokens):
        factor = torch.where(tokens == position, 0.25, 1.0).to(rows.dtype)
        return rows * factor[:, None]

    expected = _logits_by_hand(lm, ids, _routed_rows_hook(lm, 0, head, by_hand))
    torch.testing.assert_close(scaled.logits, expected, atol=TOL, rtol=TOL)


def test_an_edit_where_the_head_does_not_exist_is_dropped(lm):
    ids = seeded_ids(9)
    probs = lm.run(ids, capture=["attn_router_probs.0"])["attn_router_probs.0"][0]
    n_exp = lm.adapter.n_experts
    position, expert = next((p, e) for p in range(9) for e in range(n_exp) if probs[p, e] == 0)
    edit = replace("attn_z.0", 100.0, heads=[n_exp + expert], positions=[position])
    edited = lm.run(ids, logits=True, capture=["attn_z.0"], interventions=[edit])
    clean = lm.run(ids, logits=True)
    assert torch.equal(edited.logits, clean.logits)
    assert edited["attn_z.0"][0, position, n_exp + expert].isnan().all()  # captured: no head


def test_the_shared_ablation_check_holds_for_every_kv_head_of_one_expert(lm):
    inputs = {"input_ids": seeded_ids(10), "attention_mask": torch.ones(1, 10, dtype=torch.long)}
    for head in (1, 1 + lm.adapter.n_experts):
        check_head_ablation(lm, inputs, TOL, layer=1, head=head)


def test_routing_points_are_capture_only_and_absent_elsewhere(lm):
    for point in ("attn_pattern.0", "attn_router_probs.0", "router_probs.0", "expert_post.0"):
        with pytest.raises(InvalidInputError, match="can be captured, not intervened on") as err:
            lm.run(seeded_ids(), interventions=[zero_ablate(point)])
        assert "\n" not in str(err.value)
    llama = LanguageModel(build_tiny("llama"), None, name="llama", source="config")
    with pytest.raises(InvalidInputError, match="attn_router_probs is unavailable"):
        llama.run(seeded_ids(), capture=["attn_router_probs.0"])
    assert "attn_router_probs.0" not in llama.hook_point_names()
    assert "attn_router_probs.0" in lm.hook_point_names()
