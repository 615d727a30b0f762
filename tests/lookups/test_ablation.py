"""Head ablation: last-position logits against the HF forward, zeroing z_h against zeroing the
head's slice of W_O, and a hand-built model where one head alone carries the token."""

from __future__ import annotations

import pytest
import torch

from babellens.data.batching import pad_batch as _pad
from babellens.errors import InvalidInputError
from babellens.lookups import head_ablation_drop, last_token_logits, token_probabilities
from tiny_models import tiny_model

LAYER, HEAD, TOKEN = 1, 3, 77


def _sequences(seed: int = 5) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(3, 128, (n,), generator=gen).tolist() for n in (6, 9, 12, 4, 1)]


def _hf_last_probabilities(lm, seqs: list[list[int]], token: int) -> torch.Tensor:
    with torch.inference_mode():
        return torch.tensor(
            [lm.model(torch.tensor([s])).logits[0, -1].softmax(-1)[token].item() for s in seqs]
        )


@pytest.mark.parametrize("family", ["llama", "gemma2", "gemma3", "gpt2", "gpt_neox"])
def test_last_token_logits_match_the_full_forward(family):
    lm = tiny_model(family)
    ids, mask = _pad(_sequences(), 0)
    with torch.inference_mode():
        full = lm.model(input_ids=ids, attention_mask=mask).logits
    expected = full[torch.arange(ids.shape[0]), mask.sum(1) - 1]
    torch.testing.assert_close(last_token_logits(lm, ids, mask), expected, atol=1e-5, rtol=1e-5)
    if family == "gemma2":  # soft-capped: the check above covers the tanh
        assert lm.model.config.final_logit_softcapping


def test_zeroing_z_equals_removing_the_heads_slice_of_w_o_not_its_shared_values():
    """Grouped KV (4 query heads, 2 KV heads): zero-ablating z_h is exactly the model without
    head h's output projection; zeroing the shared value projection also hits head h's sibling."""
    lm = tiny_model("llama")
    seqs = _sequences()
    hf, hd = lm.model, lm.adapter.head_dim
    clean = _hf_last_probabilities(lm, seqs, TOKEN)
    drop = head_ablation_drop(lm, seqs, LAYER, HEAD, TOKEN, batch_size=2)
    attn = hf.model.layers[LAYER].self_attn
    o_saved, v_saved = attn.o_proj.weight.detach().clone(), attn.v_proj.weight.detach().clone()
    with torch.no_grad():
        attn.o_proj.weight[:, HEAD * hd : (HEAD + 1) * hd] = 0
    without_head = _hf_last_probabilities(lm, seqs, TOKEN)
    with torch.no_grad():
        attn.o_proj.weight.copy_(o_saved)
        kv = HEAD // (lm.adapter.n_heads // lm.adapter.n_kv_heads)
        attn.v_proj.weight[kv * hd : (kv + 1) * hd] = 0
    without_values = _hf_last_probabilities(lm, seqs, TOKEN)
    with torch.no_grad():
        attn.v_proj.weight.copy_(v_saved)
    torch.testing.assert_close(drop, clean - without_head, atol=1e-6, rtol=0)
    assert (without_values - without_head).abs().max() > 1e-5
    assert drop.abs().max() > 1e-5


def _one_head_carries_the_token():
    """Qwen2 (value biases): head (1, 3) reads constant values b and writes exactly u, and the
    unembedding row of TOKEN is 2u; every other head and weight stays random."""
    lm = tiny_model("qwen2")
    hf, a = lm.model, lm.adapter
    hd = a.head_dim
    attn = hf.model.layers[LAYER].self_attn
    kv = HEAD // (a.n_heads // a.n_kv_heads)
    u = torch.randn(a.d_model, generator=torch.Generator().manual_seed(1))
    u /= u.norm()
    b = torch.ones(hd)
    with torch.no_grad():
        attn.v_proj.weight[kv * hd : (kv + 1) * hd] = 0
        attn.v_proj.bias[kv * hd : (kv + 1) * hd] = b
        attn.o_proj.weight[:, HEAD * hd : (HEAD + 1) * hd] = torch.outer(u, b) / b.dot(b)
        hf.lm_head.weight[TOKEN] = 2 * u
    return lm


def test_ablating_the_head_that_carries_the_token_drops_its_probability():
    lm = _one_head_carries_the_token()
    seqs = _sequences()
    clean = token_probabilities(lm, seqs, TOKEN)
    torch.testing.assert_close(clean, _hf_last_probabilities(lm, seqs, TOKEN), atol=1e-6, rtol=0)
    assert clean.min() > 0.99
    # [layer, head, sequence]
    drops = torch.stack(
        [
            torch.stack(
                [
                    head_ablation_drop(lm, seqs, layer, h, TOKEN, clean=clean)
                    for h in range(lm.adapter.n_heads)
                ]
            )
            for layer in range(lm.adapter.n_layers)
        ]
    )
    carrier = drops[LAYER, HEAD]
    assert carrier.min() > 0.5
    others = torch.cat(
        [drops.flatten(0, 1)[: LAYER * 4 + HEAD], drops.flatten(0, 1)[LAYER * 4 + HEAD + 1 :]]
    )
    assert others.abs().max() < 0.01


def test_bad_arguments_are_user_errors():
    lm = tiny_model("llama")
    with pytest.raises(InvalidInputError, match="head 4 is out of range"):
        head_ablation_drop(lm, [[5, 6]], 1, 4, TOKEN)
    with pytest.raises(InvalidInputError, match="token id 128"):
        head_ablation_drop(lm, [[5, 6]], 1, 0, 128)
    with pytest.raises(InvalidInputError, match="one probability per sequence"):
        head_ablation_drop(lm, [[5, 6]], 1, 0, TOKEN, clean=torch.ones(2))
