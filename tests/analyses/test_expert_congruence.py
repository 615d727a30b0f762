"""Expert units' next-token congruence against a direct computation over the whole vocabulary."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.expert_congruence import expert_congruence
from babellens.capture.language_model import LanguageModel
from models.tiny_configs import build_tiny


@pytest.mark.parametrize("model_type", ["mixtral", "jetmoe"])
def test_expert_congruence_matches_the_full_product_with_the_final_norm_folded(model_type):
    lm = LanguageModel(build_tiny(model_type), None, name=model_type, source="config")
    a = lm.adapter
    result = expert_congruence(a, 1, top=3, chunk_size=50)  # chunks smaller than the vocabulary
    gamma = a.final_norm.weight.float()  # RMSNorm: the scale is its weight
    with torch.inference_mode():
        full = (a.w_out_experts(1).float() * gamma) @ a.w_u.float()  # [E, d_expert, vocab]
    values, ids = full.topk(3, dim=-1)
    torch.testing.assert_close(result.top_values, values, atol=1e-5, rtol=1e-5)
    assert torch.equal(result.top_ids, ids)
    low_values, _ = full.topk(3, dim=-1, largest=False)
    torch.testing.assert_close(result.bottom_values, low_values, atol=1e-5, rtol=1e-5)
    assert result.top_ids.shape == (a.n_experts, a.d_expert, 3)


def test_next_token_neurons_of_a_moe_layer_are_its_expert_units_in_scan_order():
    """The job's records for an MoE layer: unit ``e * d_expert + n`` promotes what expert e's
    neuron n promotes (the full product above), so its page joins the scan's unit."""
    from transformers import AutoModelForCausalLM

    from babellens.analyses.next_token_neurons import NextTokenConfig, next_token_neurons
    from models.tiny_configs import shrunken_config
    from tiny_models import byte_tokenizer

    config = shrunken_config("mixtral")
    config.vocab_size = 259
    torch.manual_seed(0)
    hf = AutoModelForCausalLM.from_config(config).eval()
    lm = LanguageModel(hf, byte_tokenizer(), name="mixtral", source="config")
    a = lm.adapter
    records = next_token_neurons(lm, NextTokenConfig(layers=[1], top_tokens=3))
    assert len(records) == a.n_experts * a.d_expert
    with torch.inference_mode():
        full = (a.w_out_experts(1).float() * a.final_norm.weight.float()) @ a.w_u.float()
    for unit in (0, a.d_expert + 5, len(records) - 1):
        e, n = divmod(unit, a.d_expert)
        record = records[unit]
        assert (record.layer, record.neuron) == (1, unit)
        assert [t.token_id for t in record.promoted] == full[e, n].topk(3).indices.tolist()
        assert record.score == pytest.approx(float(full[e, n].max()), rel=1e-5)
