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
