"""Shared experts found by name and read in math orientation, on tiny Qwen2-MoE, DeepSeek-V3
and Granite-MoE-Shared (a fused ``[gate | up]`` MLP beside the MoE module)."""

from __future__ import annotations

import pytest
import torch

from babellens.errors import InvalidInputError
from babellens.models.adapters import ModelAdapter, SharedExpert
from models.tiny_configs import build_tiny


def _adapter(model_type: str) -> ModelAdapter:
    return ModelAdapter(build_tiny(model_type))


def test_qwen2_moe_shared_expert_and_its_sigmoid_gate_are_found_by_name():
    a = _adapter("qwen2_moe")
    mlp = "model.layers.{layer}.mlp"
    assert a.spec.shared_expert == SharedExpert(
        module=f"{mlp}.shared_expert",
        w_in=f"{mlp}.shared_expert.up_proj",
        w_out=f"{mlp}.shared_expert.down_proj",
        w_gate=f"{mlp}.shared_expert.gate_proj",
        act=f"{mlp}.shared_expert.act_fn",
        output_gate=f"{mlp}.shared_expert_gate",
    )
    assert a.shared_layers == [0, 1]


def test_weights_are_the_shared_modules_own_in_math_orientation():
    a = _adapter("qwen2_moe")
    shared = a.model.model.layers[1].mlp.shared_expert
    assert torch.equal(a.w_in_shared(1), shared.up_proj.weight.T)
    assert torch.equal(a.w_gate_shared(1), shared.gate_proj.weight.T)
    assert torch.equal(a.w_out_shared(1), shared.down_proj.weight.T)
    assert a.d_shared(1) == a.model.config.shared_expert_intermediate_size == 32
    gate = a.model.model.layers[1].mlp.shared_expert_gate
    assert torch.equal(a.w_shared_gate(1), gate.weight.T)
    x = torch.randn(3, a.d_model)
    torch.testing.assert_close(a.shared_gate(1, x), torch.sigmoid(x @ gate.weight.T))


def test_granite_fused_shared_mlp_beside_the_moe_module_splits_gate_first():
    a = _adapter("granitemoeshared")
    assert a.spec.shared_expert.beside_mlp and a.spec.shared_expert.gate_up_fused
    fused = a.model.model.layers[0].shared_mlp.input_linear.weight  # [2 * d_shared, d_model]
    d = a.model.config.shared_intermediate_size
    assert torch.equal(a.w_gate_shared(0), fused[:d].T)
    assert torch.equal(a.w_in_shared(0), fused[d:].T)
    assert a.d_shared(0) == d == 32
    x = torch.randn(3, a.d_model)
    assert torch.equal(a.shared_gate(0, x), torch.ones(3, 1))  # no per-token gate


def test_deepseek_v3_dense_first_layer_has_no_shared_expert():
    a = _adapter("deepseek_v3")
    assert (a.moe_layers, a.shared_layers) == ([1], [1])
    assert a.has_shared_expert(1) and not a.has_shared_expert(0)
    config = a.model.config
    assert a.d_shared(1) == config.moe_intermediate_size * config.n_shared_experts == 32
    with pytest.raises(InvalidInputError, match=r"layer 0 has no shared expert .*\[1\]"):
        a.w_out_shared(0)


def test_a_dense_model_has_no_shared_expert():
    a = _adapter("llama")
    assert a.spec.shared_expert is None and a.shared_layers == []
    with pytest.raises(InvalidInputError, match="no shared expert") as err:
        a.d_shared(0)
    assert "\n" not in str(err.value)


def test_minimax_scales_its_experts_output_and_has_no_shared_activation_module():
    a = _adapter("minimax_m3_vl_text")
    assert a.experts_scale(0) == a.model.config.routed_scaling_factor == 2.0
    assert a.spec.shared_expert.act is None and a.spec.shared_expert.gate_up_fused
    assert _adapter("qwen2_moe").experts_scale(0) == 1.0
