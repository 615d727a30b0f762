"""JetMoE's per-head weights, read against slices of its own parameters, and the analyses that
need a fixed set of heads per token refusing it in one line."""

from __future__ import annotations

import pytest
import torch

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from graphs.fake_transcoders import fake_transcoders
from models.tiny_configs import build_tiny


@pytest.fixture(scope="module")
def lm() -> LanguageModel:
    return LanguageModel(build_tiny("jetmoe"), None, name="jetmoe", source="config")


def test_head_h_times_n_experts_plus_e_is_kv_head_h_of_expert_e(lm):
    a, cfg = lm.adapter, lm.model.config
    attn = lm.model.model.layers[1].self_attention
    n_exp, kv, hd = cfg.num_local_experts, cfg.num_key_value_heads, cfg.kv_channels
    assert (a.n_heads, a.n_kv_heads, a.head_dim) == (n_exp * kv, kv, hd)
    keys, values = attn.kv_proj.weight.chunk(2, dim=0)  # [kv * hd, d] each, K first
    for kv_head in range(kv):
        cols = slice(kv_head * hd, (kv_head + 1) * hd)
        assert torch.equal(a.w_k(1)[kv_head], keys[cols].T)
        assert torch.equal(a.w_v(1)[kv_head], values[cols].T)
        for expert in range(n_exp):
            head = kv_head * n_exp + expert
            assert torch.equal(a.w_q(1)[head], attn.experts.input_linear.weight[expert][cols].T)
            assert torch.equal(a.w_o(1)[head], attn.experts.output_linear.weight[expert][:, cols].T)
    assert torch.equal(a.b_o(1), attn.experts.bias)
    assert a.b_qkv(1) == [None, None, None]


def test_expert_weights_are_input_linear_halves_and_output_linear(lm):
    a, mlp = lm.adapter, lm.model.model.layers[0].mlp
    gate, up = mlp.input_linear.weight.chunk(2, dim=1)  # [E, d_expert, d] each, activated first
    assert torch.equal(a.w_gate_experts(0), gate.transpose(1, 2))
    assert torch.equal(a.w_in_experts(0), up.transpose(1, 2))
    assert torch.equal(a.w_out_experts(0), mlp.output_linear.weight.transpose(1, 2))
    assert torch.equal(a.b_experts(0), mlp.bias)
    assert a.b_out_experts(0) is None  # no per-expert bias: JetMoE's is added once
    assert (a.n_experts, a.d_expert) == (4, lm.model.config.intermediate_size)


def test_attribution_graphs_and_head_attribution_refuse_routed_heads_in_one_line(lm):
    from babellens.graphs.frozen import FrozenReplacement
    from babellens.lookups.attribution import head_attributions

    ids = torch.randint(3, 100, (1, 5), generator=torch.Generator().manual_seed(3))
    with pytest.raises(InvalidInputError, match="attribution graphs are unavailable") as err:
        FrozenReplacement(lm, fake_transcoders(lm), ids[0])
    assert "attention heads routed as experts" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match="head attribution is unavailable") as err:
        head_attributions(lm, ids, None, 1, 0)
    assert "attention heads routed as experts" in str(err.value) and "\n" not in str(err.value)
