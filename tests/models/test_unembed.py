"""Residual -> logits and the norm scale, each written once (on the adapter / in models.norms),
checked against what transformers itself computes."""

from __future__ import annotations

import pytest
import torch

from babellens.models.norms import norm_affine
from tiny_models import FAMILIES, tiny_inputs, tiny_model


@pytest.mark.parametrize("family", FAMILIES)
def test_unembed_of_the_last_residual_is_the_models_logits(family):
    lm = tiny_model(family)
    ids, mask = tiny_inputs()
    last = f"resid_post.{lm.adapter.n_layers - 1}"
    resid = lm.run({"input_ids": ids, "attention_mask": mask}, capture=[last])[last]
    with torch.inference_mode():
        expected = lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        got = lm.unembed(resid)
    assert got.shape == expected.shape == (2, 10, 128)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_unembed_applies_gemma2s_soft_cap():
    lm = tiny_model("gemma2")
    assert lm.model.config.final_logit_softcapping == 30.0
    cap = lm.model.config.final_logit_softcapping = 0.1  # small enough to bite on tiny logits
    resid = torch.randn(3, lm.adapter.d_model)
    with torch.inference_mode():
        raw = lm.model.lm_head(lm.model.model.norm(resid))
        got = lm.unembed(resid)
    torch.testing.assert_close(got, torch.tanh(raw / cap) * cap)
    assert got.abs().max() <= cap and raw.abs().max() > cap


def test_unembed_of_normed_hidden_skips_the_final_norm():
    lm = tiny_model("llama")
    ids, _ = tiny_inputs(batch=1)
    with torch.inference_mode():
        hidden = lm.model.model(input_ids=ids).last_hidden_state
        expected = lm.model(input_ids=ids).logits
        torch.testing.assert_close(lm.unembed(hidden, normed=True), expected, rtol=0, atol=0)


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2", "gpt_neox"])
def test_norm_affine_is_the_norm_at_its_scale(family):
    """y = centre(x) · (1/s(x)) ⊙ γ + β with s the norm's own RMS/std (eps included)."""
    lm = tiny_model(family)
    norm = lm.adapter.final_norm
    affine = norm_affine(norm, lm.adapter.d_model, torch.float64)
    x = torch.randn(5, lm.adapter.d_model, dtype=torch.float64) * 3 + 1
    with torch.no_grad():
        y = norm.double()(x)
    eps = getattr(norm, "variance_epsilon", getattr(norm, "eps", None))
    centred = x - x.mean(-1, keepdim=True) if affine.centres else x
    s = (centred.pow(2).mean(-1) + eps).sqrt()
    assert affine.centres == (family in ("gpt2", "gpt_neox"))
    torch.testing.assert_close(affine.inverse_scale(x, y), 1 / s)
    torch.testing.assert_close(centred / s[:, None] * affine.gamma + affine.beta, y)
    weight = norm.weight.detach().double()
    expected_gamma = 1 + weight if family == "gemma3" else weight
    torch.testing.assert_close(affine.gamma, expected_gamma)


def test_norm_affine_reads_a_bfloat16_gemma_norm_unrounded():
    lm = tiny_model("gemma3")
    norm = lm.adapter.final_norm.to(torch.bfloat16)
    affine = norm_affine(norm, lm.adapter.d_model, torch.float32)
    expected = 1 + norm.weight.detach().float()  # what Gemma computes, in float32
    torch.testing.assert_close(affine.gamma, expected, rtol=1e-6, atol=1e-6)
    assert norm.weight.dtype == torch.bfloat16  # the model's own module is left as it was
