"""Mixture-of-experts hook points on a tiny Mixtral and a tiny mixed (dense + MoE) GLM-4 MoE."""

from __future__ import annotations

import pytest
import torch

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from models.tiny_configs import build_tiny
from parity_checks import check_experts_sum_to_their_output
from tiny_models import tiny_inputs


def _lm(model_type: str) -> LanguageModel:
    return LanguageModel(build_tiny(model_type), None, name=model_type, source="config")


def _inputs() -> dict[str, torch.Tensor]:
    ids, mask = tiny_inputs()
    return {"input_ids": ids, "attention_mask": mask}


def test_router_probs_are_the_routers_own_top_k_weights():
    lm = _lm("mixtral")
    router = lm.model.model.layers[1].mlp.gate
    seen = {}
    handle = router.register_forward_hook(lambda _m, _a, out: seen.update(out=out))
    try:
        out = lm.run(_inputs(), capture=["router_probs.1"])
    finally:
        handle.remove()
    _logits, top_weights, top_index = seen["out"]
    expected = torch.zeros(top_index.shape[0], lm.adapter.n_experts)
    expected.scatter_(1, top_index, top_weights)
    probs = out["router_probs.1"]
    assert probs.shape == (2, 10, lm.adapter.n_experts)
    torch.testing.assert_close(probs.reshape(-1, lm.adapter.n_experts), expected)
    assert ((probs > 0).sum(dim=-1) == lm.model.config.num_experts_per_tok).all()


def test_expert_neurons_are_nan_where_not_routed_and_match_a_hand_computation():
    lm = _lm("mixtral")
    a = lm.adapter
    seen = {}
    mlp = lm.model.model.layers[0].mlp
    handle = mlp.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0].clone()))
    try:
        out = lm.run(_inputs(), capture=["router_probs.0", "expert_post.0"])
    finally:
        handle.remove()
    post, probs = out["expert_post.0"], out["router_probs.0"]
    assert torch.equal(post.isnan().any(dim=-1), probs == 0)
    b, p = 0, 4
    for expert in (probs[b, p] > 0).nonzero().flatten().tolist():
        x = seen["x"][b, p]
        gate = x @ a.w_gate_experts(0)[expert]
        up = x @ a.w_in_experts(0)[expert]
        expected = torch.nn.functional.silu(gate) * up
        torch.testing.assert_close(post[b, p, expert], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["mixtral", "qwen2_moe", "glm4_moe"])
def test_routed_neurons_times_w_out_sum_to_the_experts_output(model_type):
    check_experts_sum_to_their_output(_lm(model_type), _inputs(), 1e-5)


def test_mixed_model_dense_layers_are_ordinary_mlps():
    lm = _lm("glm4_moe")
    a = lm.adapter
    assert a.moe_layers == [1] and not a.is_moe_layer(0)
    out = lm.run(_inputs(), capture=["mlp_post.0", "mlp_out.0"])
    torch.testing.assert_close(out["mlp_post.0"] @ a.w_out(0), out["mlp_out.0"])
    assert "mlp_post.0" in lm.hook_point_names() and "expert_post.1" in lm.hook_point_names()
    assert (
        "mlp_post.1" not in lm.hook_point_names() and "router_probs.0" not in lm.hook_point_names()
    )


def test_dense_points_on_an_moe_layer_are_refused_in_one_line():
    lm = _lm("glm4_moe")
    with pytest.raises(InvalidInputError, match=r"capture expert_post\.1"):
        lm.run(_inputs(), capture=["mlp_post.1"])
    with pytest.raises(InvalidInputError, match="mixture-of-experts layer"):
        lm.adapter.w_out(1)
    with pytest.raises(InvalidInputError, match="dense MLP"):
        lm.adapter.experts(0)


def _routed_post_and_input(lm: LanguageModel, layer: int) -> tuple[dict, dict]:
    seen = {}
    experts = lm.adapter.experts(layer)
    handle = experts.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0].clone()))
    try:
        out = lm.run(_inputs(), capture=[f"router_probs.{layer}", f"expert_post.{layer}"])
    finally:
        handle.remove()
    return out, seen


def test_gpt_oss_interleaved_biased_experts_match_its_clamped_swiglu_by_hand():
    """GPT-OSS stores gate_up_proj as [E, d_model, 2*d_expert] with gate and up interleaved
    column by column, adds biases, and clamps a SwiGLU: rebuilt here from W_gate, W_in and the
    biases the adapter reads, with the model's own constants."""
    lm = _lm("gpt_oss")
    a, experts = lm.adapter, lm.adapter.experts(0)
    assert a.experts_layout(0).transposed and not a.experts_layout(0).concatenated
    out, seen = _routed_post_and_input(lm, 0)
    post, probs = out["expert_post.0"].flatten(0, 1), out["router_probs.0"].flatten(0, 1)
    b_gate, b_up = a.b_gate_up_experts(0)
    limit, alpha = experts.limit, experts.alpha
    checked = 0
    for token, expert in (probs > 0).nonzero().tolist():
        x = seen["x"][token]
        gate = (x @ a.w_gate_experts(0)[expert] + b_gate[expert]).clamp(max=limit)
        up = (x @ a.w_in_experts(0)[expert] + b_up[expert]).clamp(-limit, limit)
        expected = (up + 1) * gate * torch.sigmoid(gate * alpha)
        torch.testing.assert_close(post[token, expert], expected, atol=1e-5, rtol=1e-5)
        checked += 1
    assert checked == probs.shape[0] * lm.model.config.num_experts_per_tok


def test_aria_transposed_experts_match_a_silu_gate_by_hand():
    lm = _lm("aria_text")
    a = lm.adapter
    assert a.experts_layout(0).transposed and a.b_gate_up_experts(0) is None
    out, seen = _routed_post_and_input(lm, 0)
    post, probs = out["expert_post.0"].flatten(0, 1), out["router_probs.0"].flatten(0, 1)
    for token, expert in (probs > 0).nonzero().tolist():
        x = seen["x"][token]
        gate, up = x @ a.w_gate_experts(0)[expert], x @ a.w_in_experts(0)[expert]
        expected = torch.nn.functional.silu(gate) * up
        torch.testing.assert_close(post[token, expert], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["gpt_oss", "aria_text", "minimax_m3_vl_text"])
def test_other_expert_layouts_sum_to_the_experts_output(model_type):
    check_experts_sum_to_their_output(_lm(model_type), _inputs(), 1e-5)


def test_llama4_expert_neurons_are_computed_from_the_router_scaled_token_by_hand():
    """Llama 4 scales each token by sigmoid(its top-k router logit) before the experts: an
    expert neuron is act((s x) W_gate) * ((s x) W_in), s from the router's weights here."""
    lm = _lm("llama4_text")
    a = lm.adapter
    layer = a.moe_layers[0]
    feed_forward = lm.model.model.layers[layer].feed_forward
    seen = {}
    handle = feed_forward.register_forward_pre_hook(lambda _m, args: seen.update(x=args[0].clone()))
    try:
        out = lm.run(_inputs(), capture=[f"router_probs.{layer}", f"expert_post.{layer}"])
    finally:
        handle.remove()
    x = seen["x"].flatten(0, 1)
    logits = x @ feed_forward.router.weight.T
    top = logits.topk(lm.model.config.num_experts_per_tok, dim=-1)
    scores = torch.zeros_like(logits).scatter(1, top.indices, torch.sigmoid(top.values))
    probs = out[f"router_probs.{layer}"].flatten(0, 1)
    torch.testing.assert_close(probs, scores, atol=1e-6, rtol=1e-6)
    post = out[f"expert_post.{layer}"].flatten(0, 1)
    assert torch.equal(post.isnan().all(dim=-1), scores == 0)
    act = feed_forward.experts.act_fn
    for token, expert in (scores > 0).nonzero().tolist():
        scaled = x[token] * scores[token, expert]
        gate = scaled @ a.w_gate_experts(layer)[expert]
        expected = act(gate) * (scaled @ a.w_in_experts(layer)[expert])
        torch.testing.assert_close(post[token, expert], expected, atol=1e-5, rtol=1e-5)
    check_experts_sum_to_their_output(lm, _inputs(), 1e-5)


def test_an_undeclared_expert_layout_is_refused_naming_its_class(monkeypatch):
    from babellens.errors import UnsupportedArchitectureError
    from babellens.models.adapters import inference

    monkeypatch.setattr(inference, "_SCALED_EXPERTS", set())
    # Llama 4's experts take no router input: undeclared, the layout check names them
    with pytest.raises(UnsupportedArchitectureError, match="experts stored as Llama4TextExperts"):
        _lm("llama4_text")
