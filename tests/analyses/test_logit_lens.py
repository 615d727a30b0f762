"""The logit lens against a manual unembedding of plain transformers hidden states."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.logit_lens import (
    LogitLensConfig,
    lens_probabilities,
    logit_lens,
    translation_prompts,
)
from babellens.errors import InvalidInputError
from tiny_models import tiny_lm_with_tokenizer


@pytest.fixture(scope="module")
def lm():
    return tiny_lm_with_tokenizer("llama")


def test_each_layer_is_the_final_norm_and_unembedding_of_its_residual_stream(lm):
    texts = ['Français: "eau" - 中文: "', "ab"]  # different lengths: the last real token is read
    probs = lens_probabilities(lm, texts, range(3))
    for row, text in enumerate(texts):
        enc = lm.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            out = lm.model(**enc, output_hidden_states=True)
        for layer in range(2):  # hidden_states[L + 1] is block L's output, before the final norm
            logits = (
                lm.model.model.norm(out.hidden_states[layer + 1][0, -1]) @ lm.model.lm_head.weight.T
            )
            torch.testing.assert_close(
                probs[layer, row], torch.softmax(logits, -1), atol=1e-5, rtol=1e-4
            )
        torch.testing.assert_close(
            probs[2, row], torch.softmax(out.logits[0, -1], -1), atol=1e-5, rtol=1e-4
        )


def test_prompts_are_few_shot_translations_ending_before_the_answer():
    prompts = translation_prompts("fr", "zh", words=5, shots=3, seed=1)
    text, word = prompts[0]
    lines = text.split("\n")
    assert len(prompts) == 5 and len(lines) == 4
    assert lines[-1] == f'Français: "{word["fr"]}" - 中文: "'
    assert all(f'"{word["fr"]}"' not in line for line in lines[:-1])  # not among its own examples
    with pytest.raises(InvalidInputError, match="word pairs"):
        translation_prompts("fr", "xx", words=5, shots=3)


def test_logit_lens_end_to_end(lm):
    result = logit_lens(
        lm, LogitLensConfig(source="fr", target="zh", words=6, shots=2, batch_size=4)
    )
    assert [r.layer for r in result.layers] == [0, 1, 2] and result.prompts + result.skipped == 6
    assert all(0 <= r.p_target <= 1 and 0 <= (r.p_english or 0) <= 1 for r in result.layers)
    english = logit_lens(lm, LogitLensConfig(source="fr", target="en", words=3, shots=1))
    assert all(r.p_english is None for r in english.layers)
