"""Query head counts that differ from layer to layer (Laguna: 4 heads in layer 0, 8 in layer 1 of
the tiny model, 2 key/value heads each, a softplus output gate). Per-head outputs are checked
against a computation written here from the model's own q/k/v/g projections, the head ablation
against a hand hook on W_O's input, and what stacks heads across layers must refuse in one line."""

from __future__ import annotations

import pytest
import torch
import transformers as tf
from transformers.models.laguna import modeling_laguna as laguna

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from babellens.lookups.attribution import head_attributions
from graphs.fake_transcoders import fake_transcoders
from models.tiny_configs import build_tiny, shrunken_config
from module_inputs import run_seeing_input, seeded_ids
from parity_checks import check_head_ablation, check_value_weights_single_token

TOL = 1e-5


@pytest.fixture(scope="module")
def lm() -> LanguageModel:
    return LanguageModel(build_tiny("laguna"), None, name="laguna", source="config")


def _laguna_by_hand(lm: LanguageModel, layer: int, x: torch.Tensor):
    """(pattern [H, T, T], z [T, H, hd]) from Laguna's projections: q/k RMSNorms per head,
    partial rotary, grouped KV, a causal softmax, then softplus(x W_G) per head."""
    attn, cfg = lm.model.model.layers[layer].self_attn, lm.model.config
    heads, kv, hd, n = attn.num_heads, cfg.num_key_value_heads, attn.head_dim, x.shape[1]
    q = attn.q_norm(attn.q_proj(x).view(1, n, heads, hd)).transpose(1, 2)
    k = attn.k_norm(attn.k_proj(x).view(1, n, kv, hd)).transpose(1, 2)
    v = attn.v_proj(x).view(1, n, kv, hd).transpose(1, 2)
    cos, sin = lm.model.model.rotary_emb(x, torch.arange(n)[None], cfg.layer_types[layer])
    q, k = laguna.apply_rotary_pos_emb(q, k, cos, sin)
    k, v = (t.repeat_interleave(heads // kv, dim=1) for t in (k, v))
    scores = (q @ k.transpose(-1, -2))[0] * hd**-0.5
    causal = torch.ones(n, n, dtype=torch.bool).triu(1)
    pattern = scores.masked_fill(causal, float("-inf")).softmax(dim=-1)
    gate = torch.nn.functional.softplus(attn.g_proj(x)[0])  # [T, H]: one gate per head
    return pattern, (pattern @ v[0]).transpose(0, 1) * gate.unsqueeze(-1)


def test_the_adapter_reads_each_layers_head_count_from_the_config(lm):
    a, layers = lm.adapter, lm.model.model.layers
    assert a.heads_per_layer == (4, 8) == tuple(lm.model.config.num_attention_heads_per_layer)
    assert a.spec.heads_per_layer == "num_attention_heads_per_layer"
    assert a.spec.gate is not None and a.spec.gate.activation == "softplus"
    for layer in range(a.n_layers):
        attn, heads = layers[layer].self_attn, a.heads_at(layer)
        assert heads == attn.num_heads
        w_o = attn.o_proj.weight.T.reshape(heads, a.head_dim, -1)
        assert torch.equal(a.w_o(layer), w_o)
        assert torch.equal(
            a.w_q(layer), attn.q_proj.weight.T.reshape(-1, heads, 16).transpose(0, 1)
        )
        assert a.kv_heads_at(layer) == 2


@pytest.mark.parametrize("layer", [0, 1])
def test_per_head_outputs_and_pattern_match_a_hand_computation_from_q_k_v_g(lm, layer):
    points = [f"attn_z.{layer}", f"attn_pattern.{layer}"]
    x, out = run_seeing_input(lm, lm.model.model.layers[layer].self_attn, seeded_ids(), points)
    with torch.inference_mode():
        pattern, z = _laguna_by_hand(lm, layer, x)
    assert out[points[0]].shape == (1, 7, lm.adapter.heads_at(layer), 16)
    torch.testing.assert_close(out[points[1]][0], pattern, atol=TOL, rtol=TOL)
    torch.testing.assert_close(out[points[0]][0], z, atol=TOL, rtol=TOL)
    assert float(z.abs().max()) > 1e-3  # not a trivially zero comparison


@pytest.mark.parametrize("head", [1, 6])  # head 6 exists only in layer 1
def test_a_head_ablation_matches_zeroing_its_slice_of_w_o_input_by_hand(lm, head):
    ids = torch.randint(3, 100, (2, 6), generator=torch.Generator().manual_seed(4))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    check_head_ablation(lm, inputs, TOL, layer=1, head=head)


def test_a_per_element_gate_is_exact_too():
    """``gating="per-element"``: one softplus gate per (head, channel)."""
    torch.manual_seed(0)
    config = shrunken_config("laguna")
    config.gating = "per-element"
    model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    lm = LanguageModel(model, None, name="laguna", source="config")
    assert model.model.layers[1].self_attn.g_proj.out_features == 8 * 16
    for layer in (0, 1):
        check_value_weights_single_token(lm, TOL, layer=layer)


def test_a_head_outside_its_layer_is_refused_naming_the_layers_range(lm):
    assert lm.adapter.check_head(6, 1) == 6
    with pytest.raises(
        InvalidInputError, match=r"head 6 is out of range: layer 0 has heads 0\.\.3"
    ):
        lm.adapter.check_head(6, 0)


def test_what_stacks_heads_across_layers_refuses_in_one_line(lm):
    from babellens.graphs.frozen import FrozenReplacement

    with pytest.raises(InvalidInputError, match=r"differ from layer to layer \(\[4, 8\]\)") as err:
        lm.adapter.n_heads  # noqa: B018
    assert "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match="head attribution is unavailable") as err:
        head_attributions(lm, seeded_ids(), None, layer=1, neuron=0)
    assert "query head counts that differ" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InvalidInputError, match="attribution graphs are unavailable") as err:
        FrozenReplacement(lm, fake_transcoders(lm), seeded_ids(5)[0])
    assert "softplus(x W_G)" in str(err.value) and "\n" not in str(err.value)


def test_the_summary_reports_each_layers_heads(lm):
    summary = lm.summary()
    assert (summary.n_heads, summary.heads_per_layer, summary.head_dim) == (8, [4, 8], 16)
    plain = LanguageModel(build_tiny("afmoe"), None, name="afmoe", source="config").summary()
    assert plain.heads_per_layer is None and plain.n_heads == 4
