"""Shared-expert hook points on tiny Qwen2-MoE (a sigmoid gate per token), DeepSeek-V3 (a dense
first layer) and Granite-MoE-Shared (a fused shared MLP the block adds beside the MoE module)."""

from __future__ import annotations

import pytest
import torch

from babellens.capture import add, scale, zero_ablate
from babellens.capture.hook_points import kinds_at_layer
from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from models.tiny_configs import build_tiny
from parity_checks import check_mlp_out_is_routed_plus_shared, check_shared_neuron_ablation
from tiny_models import tiny_inputs

SHARED = ["qwen2_moe", "deepseek_v3", "granitemoeshared"]


def _lm(model_type: str) -> LanguageModel:
    return LanguageModel(build_tiny(model_type), None, name=model_type, source="config")


def _inputs() -> dict[str, torch.Tensor]:
    ids, mask = tiny_inputs()
    return {"input_ids": ids, "attention_mask": mask}


def _grab(module: torch.nn.Module, seen: dict, name: str, output: bool = False):
    if output:
        return module.register_forward_hook(lambda _m, _a, out: seen.update({name: out.clone()}))
    return module.register_forward_pre_hook(lambda _m, args: seen.update({name: args[0].clone()}))


def _shared_module(lm: LanguageModel, layer: int) -> torch.nn.Module:
    block = lm.model.model.layers[layer]
    return (
        block.shared_mlp
        if hasattr(block, "shared_mlp")
        else getattr(block.mlp, "shared_expert", getattr(block.mlp, "shared_experts", None))
    )


def _gate_up_by_hand(module: torch.nn.Module, x: torch.Tensor):
    """(gate, up) from the shared module's own weights (Granite: one fused [gate | up])."""
    if hasattr(module, "input_linear"):
        return (x @ module.input_linear.weight.T).chunk(2, dim=-1)
    return x @ module.gate_proj.weight.T, x @ module.up_proj.weight.T


@pytest.mark.parametrize("model_type", SHARED)
def test_shared_pre_and_post_match_the_shared_modules_weights_by_hand(model_type):
    lm = _lm(model_type)
    layer = lm.adapter.shared_layers[-1]
    module, seen = _shared_module(lm, layer), {}
    handle = _grab(module, seen, "x")
    try:
        out = lm.run(_inputs(), capture=[f"shared_pre.{layer}", f"shared_post.{layer}"])
    finally:
        handle.remove()
    gate, up = _gate_up_by_hand(module, seen["x"].reshape(2, 10, -1))
    pre, post = out[f"shared_pre.{layer}"], out[f"shared_post.{layer}"]
    assert post.shape == (2, 10, lm.adapter.d_shared(layer)) == pre.shape
    torch.testing.assert_close(pre, gate, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(post, torch.nn.functional.silu(gate) * up, atol=1e-5, rtol=1e-5)


def test_qwen2_moe_mlp_out_is_experts_plus_the_sigmoid_gated_shared_output_by_hand():
    lm = _lm("qwen2_moe")
    mlp, seen = lm.model.model.layers[1].mlp, {}
    handles = [_grab(mlp.experts, seen, "routed", output=True), _grab(mlp, seen, "x")]
    try:
        out = lm.run(_inputs(), capture=["shared_post.1", "mlp_out.1"])
    finally:
        for h in handles:
            h.remove()
    x = seen["x"].reshape(20, -1)
    gate = torch.sigmoid(x @ mlp.shared_expert_gate.weight.T)
    shared = gate * (out["shared_post.1"].reshape(20, -1) @ mlp.shared_expert.down_proj.weight.T)
    expected = (seen["routed"] + shared).reshape(2, 10, -1)
    torch.testing.assert_close(out["mlp_out.1"], expected, atol=1e-5, rtol=1e-5)
    assert gate.min() < 0.99 and not torch.allclose(
        out["mlp_out.1"], seen["routed"].view(2, 10, -1)
    )


def test_granite_mlp_out_is_the_moe_output_plus_the_shared_mlp_it_adds_beside():
    lm = _lm("granitemoeshared")
    block, seen = lm.model.model.layers[1], {}
    moe, shared = block.block_sparse_moe, block.shared_mlp
    handles = [_grab(moe, seen, "moe", output=True), _grab(shared, seen, "shared", output=True)]
    try:
        out = lm.run(_inputs(), capture=["mlp_out.1", "resid_pre.1", "attn_out.1", "resid_post.1"])
    finally:
        for h in handles:
            h.remove()
    assert torch.equal(out["mlp_out.1"], seen["moe"] + seen["shared"])
    assert seen["shared"].abs().max() > 1e-3  # the shared MLP writes something
    scale_ = block.residual_multiplier
    writes = out["resid_pre.1"] + (out["attn_out.1"] + out["mlp_out.1"]) * scale_
    torch.testing.assert_close(writes, out["resid_post.1"], atol=1e-5, rtol=1e-5)


def test_editing_granite_mlp_out_writes_the_edit_through_the_block():
    lm = _lm("granitemoeshared")
    delta = torch.randn(lm.adapter.d_model)
    points = ["mlp_out.1", "resid_post.1"]
    clean = lm.run(_inputs(), capture=points)
    edited = lm.run(_inputs(), capture=points, interventions=[add("mlp_out.1", delta)])
    scale_ = lm.model.model.layers[1].residual_multiplier
    torch.testing.assert_close(edited["mlp_out.1"], clean["mlp_out.1"] + delta)
    expected = clean["resid_post.1"] + delta * scale_
    torch.testing.assert_close(edited["resid_post.1"], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", SHARED)
def test_mlp_out_decomposes_and_a_shared_neuron_ablation_matches_a_hand_hook(model_type):
    lm = _lm(model_type)
    with torch.inference_mode():
        check_mlp_out_is_routed_plus_shared(lm, _inputs(), tol=1e-5)
        check_shared_neuron_ablation(lm, _inputs(), tol=1e-5, neuron=3)


def test_scaling_a_shared_neuron_gives_the_logits_of_a_hand_hook():
    lm = _lm("qwen2_moe")
    down, neuron = lm.model.model.layers[0].mlp.shared_expert.down_proj, 5

    def double(_m, args):
        x = args[0].clone()
        x[:, neuron] *= 2.0
        return (x,)

    edited = lm.run(
        _inputs(), logits=True, interventions=[scale("shared_post.0", 2.0, neurons=[neuron])]
    )
    handle = down.register_forward_pre_hook(double)
    try:
        with torch.inference_mode():
            manual = lm.model(**_inputs()).logits
    finally:
        handle.remove()
    torch.testing.assert_close(edited.logits, manual, atol=1e-5, rtol=1e-5)
    clean = lm.run(_inputs(), logits=True)
    assert not torch.allclose(edited.logits, clean.logits)


def test_shared_points_are_listed_only_where_a_layer_has_a_shared_expert():
    lm = _lm("deepseek_v3")
    assert "shared_post" not in kinds_at_layer(lm.adapter, 0)
    assert {"shared_pre", "shared_post", "expert_post"} <= set(kinds_at_layer(lm.adapter, 1))
    minimax = _lm("minimax_m3_vl_text").adapter
    assert "shared_post" in kinds_at_layer(minimax, 0)
    assert "shared_pre" not in kinds_at_layer(minimax, 0)


@pytest.mark.parametrize(
    ("model_type", "point", "message"),
    [
        (
            "deepseek_v3",
            "shared_post.0",
            r"layer 0 has no shared expert \(layers with one: \[1\]\); its MLP neurons are mlp_post.0",
        ),
        ("llama", "shared_pre.1", r"llama has no shared expert; its MLP neurons are mlp_post.1"),
        ("minimax_m3_vl_text", "shared_pre.0", r"activation inline .*capture shared_post.0"),
        (
            "qwen2_moe",
            "mlp_post.1",
            r"capture expert_post.1 and router_probs.1 \(its shared expert: shared_post.1\)",
        ),
    ],
)
def test_shared_points_are_refused_in_one_line_where_there_is_none(model_type, point, message):
    lm = _lm(model_type)
    with pytest.raises(InvalidInputError, match=message) as err:
        lm.run(_inputs(), capture=[point])
    assert "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match=message):
        lm.run(_inputs(), interventions=[zero_ablate(point, neurons=[0])])
