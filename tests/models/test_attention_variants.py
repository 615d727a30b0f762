"""Attention that is not ``pattern @ (x W_V)`` per head, checked by hand on tiny random models:
multi-latent attention (DeepSeek V3), an output gate with a per-head bias (Beam), and
GPT-NeoX-Japanese's bias returned for the block to add. Each per-head output is compared with a
computation written here from the model's own projections, not with BabelLens's code."""

from __future__ import annotations

import math

import pytest
import torch
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as deepseek

from babellens.capture import zero_ablate
from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from graphs.fake_transcoders import fake_transcoders
from models.tiny_configs import build_tiny
from module_inputs import run_seeing_input, seeded_ids
from parity_checks import check_value_weights_single_token


def _lm(model_type: str) -> LanguageModel:
    return LanguageModel(build_tiny(model_type), None, name=model_type, source="config")


def _causal_softmax(scores: torch.Tensor) -> torch.Tensor:
    n = scores.shape[-1]
    mask = torch.ones(n, n, dtype=torch.bool).triu(1)
    return scores.masked_fill(mask, float("-inf")).softmax(dim=-1)


def _deepseek_by_hand(lm: LanguageModel, layer: int, x: torch.Tensor):
    """(pattern [H, T, T], z [T, H, v_head_dim]) of DeepSeek V3's attention from its modules."""
    attn, cfg = lm.model.model.layers[layer].self_attn, lm.model.config
    heads, n = cfg.num_attention_heads, x.shape[1]
    nope, rope, v_dim = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
    q = attn.q_b_proj(attn.q_a_layernorm(attn.q_a_proj(x))).view(1, n, heads, nope + rope)
    q_nope, q_rot = q.transpose(1, 2).split([nope, rope], dim=-1)
    latent, k_rot = attn.kv_a_proj_with_mqa(x).split([cfg.kv_lora_rank, rope], dim=-1)
    kv = attn.kv_b_proj(attn.kv_a_layernorm(latent)).view(1, n, heads, nope + v_dim)
    k_nope, values = kv.transpose(1, 2).split([nope, v_dim], dim=-1)
    cos, sin = lm.model.model.rotary_emb(x, torch.arange(n)[None])
    rotate = (
        deepseek.apply_rotary_pos_emb_interleave
        if cfg.rope_interleave
        else deepseek.apply_rotary_pos_emb
    )
    q_rot, k_rot = rotate(q_rot, k_rot.view(1, 1, n, rope), cos, sin)
    queries = torch.cat([q_nope, q_rot], dim=-1)
    keys = torch.cat([k_nope, k_rot.expand(-1, heads, -1, -1)], dim=-1)
    pattern = _causal_softmax(queries @ keys.transpose(-1, -2) * attn.scaling)[0]
    return pattern, (pattern @ values[0]).transpose(0, 1)


def test_mla_per_head_outputs_and_pattern_match_a_hand_computation_from_q_and_kv_projections():
    lm = _lm("deepseek_v3")
    a, layer = lm.adapter, 1
    assert a.spec.latent is not None and a.n_kv_heads == a.n_heads
    assert a.head_dim == lm.model.config.v_head_dim  # per-head outputs: v_head_dim wide
    x, out = run_seeing_input(
        lm,
        lm.adapter.module(lm.adapter.spec.attn, layer),
        seeded_ids(),
        [f"attn_z.{layer}", f"attn_pattern.{layer}"],
    )
    with torch.inference_mode():
        pattern, z = _deepseek_by_hand(lm, layer, x)
    torch.testing.assert_close(out[f"attn_pattern.{layer}"][0], pattern, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[f"attn_z.{layer}"][0], z, atol=1e-5, rtol=1e-5)


def test_analyses_needing_w_v_refuse_mla_in_one_line_naming_what_is_missing():
    from babellens.graphs.frozen import FrozenReplacement

    lm = _lm("deepseek_v3")
    for weights in (lm.adapter.w_v, lm.adapter.w_q, lm.adapter.w_k):
        with pytest.raises(InvalidInputError, match="no linear per-head W_Q, W_K or W_V") as err:
            weights(0)
        assert "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match="attribution graphs are unavailable") as err:
        FrozenReplacement(lm, fake_transcoders(lm), seeded_ids(5)[0])
    assert "multi-latent attention" in str(err.value) and "\n" not in str(err.value)


def test_gated_heads_are_the_sigmoid_gate_times_the_pattern_weighted_values():
    """Beam: z_h = sigmoid(x W_G^h + b_G^h) * sum_k p_hk (x_k W_V^h + b_V^h), on 7 tokens."""
    lm = _lm("beam")
    a, layer = lm.adapter, 1
    x, out = run_seeing_input(
        lm,
        lm.adapter.module(lm.adapter.spec.attn, layer),
        seeded_ids(),
        [f"attn_z.{layer}", f"attn_pattern.{layer}"],
    )
    attn = lm.model.model.layers[layer].self_attn
    with torch.inference_mode():
        x = x[0]
        group = a.n_heads // a.kv_heads_at(layer)
        b_v = a.b_qkv(layer)[2]
        values = torch.einsum("td,kde->kte", x, a.w_v(layer)) + (0 if b_v is None else b_v[:, None])
        mixed = out[f"attn_pattern.{layer}"][0] @ values.repeat_interleave(group, dim=0)
        logits = attn.gate_proj(x).view(x.shape[0], a.n_heads, a.head_dim) + attn.gate_bias[:, None]
        expected = torch.sigmoid(logits) * mixed.transpose(0, 1)
    torch.testing.assert_close(out[f"attn_z.{layer}"][0], expected, atol=1e-5, rtol=1e-5)
    assert "output gate" in (a.spec.values_problem or "")


def test_the_bias_gpt_neox_japanese_returns_is_part_of_attn_out_and_of_its_ablation():
    lm = _lm("gpt_neox_japanese")
    a = lm.adapter
    last = a.n_layers - 1
    bias = lm.model.gpt_neox_japanese.layers[last].attention.dense_bias
    assert bias is not None and torch.equal(a.b_o(last), bias)
    ids = seeded_ids()
    points = [f"resid_pre.{last}", f"mlp_in.{last}", f"attn_out.{last}", f"attn_z.{last}"]
    out = lm.run(ids, capture=points)
    heads = torch.einsum("bphd,hdm->bpm", out[f"attn_z.{last}"], a.w_o(last))
    torch.testing.assert_close(out[f"attn_out.{last}"], heads + bias, atol=1e-5, rtol=1e-5)
    ablated = lm.run(ids, capture=points, interventions=[zero_ablate(f"attn_out.{last}")])
    norm = a.norm("mlp_in", last)
    with torch.inference_mode():  # nothing of attention reaches the MLP, not even the bias
        expected = norm(ablated[f"resid_pre.{last}"])
    torch.testing.assert_close(ablated[f"mlp_in.{last}"], expected, atol=1e-6, rtol=1e-6)


def test_minicpm3_declares_its_residual_scale_from_the_config():
    lm = _lm("minicpm3")
    cfg = lm.model.config
    expected = cfg.scale_depth / math.sqrt(cfg.num_hidden_layers)
    assert lm.adapter.residual_scale(0) == pytest.approx(expected, rel=1e-12)
    assert expected != 1.0


def test_mimo_reads_kv_heads_per_layer_and_scales_its_values():
    """MiMo-V2-Flash: sliding-window layers have twice the KV heads, and values are scaled."""
    lm = _lm("mimo_v2_flash")
    a = lm.adapter
    layers = lm.model.model.layers
    v_dim = lm.model.config.v_head_dim
    assert [a.kv_heads_at(i) for i in range(a.n_layers)] == [
        layer.self_attn.v_proj.out_features // v_dim for layer in layers
    ]
    assert len({a.kv_heads_at(i) for i in range(a.n_layers)}) == 2
    v_proj, scale = layers[1].self_attn.v_proj, layers[1].self_attn.v_scale
    expected = (v_proj.weight.T * scale).reshape(-1, a.kv_heads_at(1), v_dim).permute(1, 0, 2)
    assert scale != 1.0 and torch.equal(a.w_v(1), expected)
    for layer in range(a.n_layers):  # a full-attention layer and a sliding one with sinks
        check_value_weights_single_token(lm, 1e-5, layer=layer)
