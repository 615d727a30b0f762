"""Congruence against a direct matmul; the whole-word filter on real tokenizers' markers."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.next_token_neurons import (
    NextTokenConfig,
    congruence_extremes,
    effective_output_weights,
    final_norm_scale,
    next_token_neurons,
)
from babellens.analyses.token_filter import is_whole_word
from tiny_models import tiny_lm_with_tokenizer


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_chunked_congruence_equals_direct_matmul(family):
    lm = tiny_lm_with_tokenizer(family)
    a = lm.adapter
    w_eff = effective_output_weights(a, 1)
    direct = w_eff @ a.w_u.float()
    ext = congruence_extremes(w_eff, a.w_u, n=5, chunk_size=256 if family == "gpt2" else 300)
    top = direct.topk(5, dim=1)
    bottom = direct.topk(5, dim=1, largest=False)
    torch.testing.assert_close(ext["top_values"], top.values)
    assert torch.equal(ext["top_ids"], top.indices)
    torch.testing.assert_close(ext["bottom_values"], bottom.values)
    assert torch.equal(ext["bottom_ids"], bottom.indices)


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_folded_norm_matches_the_logit_effect(family):
    """For a residual r with unit RMS and zero mean, norm(r) @ W_U = r @ diag(γ) W_U (+ β W_U)."""
    lm = tiny_lm_with_tokenizer(family)
    a = lm.adapter
    gamma, centres = final_norm_scale(a)
    assert centres == (family == "gpt2")
    w = a.w_out(2)[7].detach()
    r = w - w.mean() if centres else w
    r = r / r.pow(2).mean().sqrt()
    with torch.no_grad():
        through_norm = a.final_norm(r) - (a.final_norm.bias if centres else 0)
    torch.testing.assert_close(through_norm, r * gamma, atol=1e-4, rtol=1e-4)
    expected = (r * gamma) @ a.w_u
    folded = effective_output_weights(a, 2)[7] @ a.w_u
    scale = expected.norm() / folded.norm()
    torch.testing.assert_close(folded * scale, expected, atol=1e-4, rtol=1e-4)


def test_next_token_neurons_records():
    lm = tiny_lm_with_tokenizer("qwen2")
    records = next_token_neurons(lm, NextTokenConfig(layers=[2], top_tokens=3, chunk_size=256))
    assert len(records) == lm.adapter.d_mlp
    direct = (effective_output_weights(lm.adapter, 2) @ lm.adapter.w_u).detach()
    r = records[11]
    assert r.score == pytest.approx(float(direct[11].max()), abs=1e-5)
    assert [t.token_id for t in r.promoted] == direct[11].topk(3).indices.tolist()
    assert r.suppressed[0].score == pytest.approx(float(direct[11].min()), abs=1e-5)


@pytest.mark.parametrize(
    ("raw", "text", "expected"),
    [
        ("▁house", " house", True),
        ("Ġhouse", " house", True),
        ("ĠÐ´Ð°", " да", False),
        ("ĠÐ´Ð¾Ð¼Ð°", " дома", True),
        ("house", "house", False),
        ("▁12345", " 12345", False),
        ("▁3.14", " 3.14", False),
        ("▁an", " an", False),
        ("▁東京都", " 東京都", True),
        ("▁...", " ...", False),
    ],
)
def test_whole_word_filter(raw, text, expected):
    assert is_whole_word(raw, text) is expected


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_bfloat16_model_congruence_is_float32_math_on_its_weights(family):
    """A bfloat16 model's congruence equals float32 arithmetic on its bfloat16-rounded weights,
    computed by a float32 model holding exactly those weights: the reduction is never bfloat16."""
    bf16 = tiny_lm_with_tokenizer(family)
    bf16.model.to(torch.bfloat16)
    rounded = tiny_lm_with_tokenizer(family)
    with torch.no_grad():
        for p in rounded.model.parameters():
            p.copy_(p.bfloat16().float())
    config = NextTokenConfig(layers=[1], top_tokens=5, chunk_size=300)
    got = next_token_neurons(bf16, config)
    want = next_token_neurons(rounded, config)
    assert [[t.token_id for t in n.promoted] for n in got] == [
        [t.token_id for t in n.promoted] for n in want
    ]
    torch.testing.assert_close(
        torch.tensor([[t.score for t in n.promoted + n.suppressed] for n in got]),
        torch.tensor([[t.score for t in n.promoted + n.suppressed] for n in want]),
        atol=1e-6,
        rtol=1e-6,
    )
