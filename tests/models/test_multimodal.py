"""Multimodal checkpoints: the language model inside is loaded and analysed (text only)."""

from __future__ import annotations

import torch
import transformers as tf

from babellens import load
from models.tiny_configs import shrunken_config
from parity_checks import ALL_BATCH_CHECKS
from tiny_models import byte_tokenizer


def _save_gemma3_multimodal(folder):
    config = shrunken_config("gemma3")
    config.text_config.vocab_size = 259
    config.architectures = ["Gemma3ForConditionalGeneration"]
    torch.manual_seed(0)
    model = tf.Gemma3ForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    return model


def test_gemma3_conditional_generation_loads_its_language_model_exactly(tmp_path):
    plain = _save_gemma3_multimodal(tmp_path / "gemma3-mm")
    lm = load(tmp_path / "gemma3-mm")
    assert type(lm.model).__name__ == "Gemma3ForConditionalGeneration"
    assert lm.adapter.spec.blocks == "model.language_model.layers"
    assert lm.adapter.n_heads == plain.config.text_config.num_attention_heads
    assert "images are out of scope" in lm.adapter.spec.notes
    enc = lm.tokenize(["Bonjour le monde", "Hallo"])
    with torch.inference_mode():
        expected = plain(**enc).logits
        torch.testing.assert_close(lm.run(enc, logits=True).logits, expected, atol=1e-5, rtol=0)
        for check in ALL_BATCH_CHECKS:
            check(lm, enc, 1e-5)


def test_gemma3_multimodal_stops_before_the_vision_tower_is_ever_needed(tmp_path):
    _save_gemma3_multimodal(tmp_path / "gemma3-mm")
    lm = load(tmp_path / "gemma3-mm")
    calls = []
    vision = lm.model.model.vision_tower
    handle = vision.register_forward_hook(lambda *_a: calls.append("vision"))
    try:
        lm.run(lm.tokenize("text only"), capture=["mlp_post.0"], logits=True)
    finally:
        handle.remove()
    assert calls == []


def test_llava_outside_the_causal_lm_mapping_loads_through_its_language_model(tmp_path):
    config = shrunken_config("llava")
    config.text_config.vocab_size = 259
    config.image_token_index = 258
    config.architectures = ["LlavaForConditionalGeneration"]
    torch.manual_seed(0)
    plain = tf.LlavaForConditionalGeneration(config).eval()
    plain.save_pretrained(tmp_path / "llava")
    byte_tokenizer().save_pretrained(tmp_path / "llava")
    lm = load(tmp_path / "llava")
    enc = lm.tokenize(["a cat", "ein Hund"])
    with torch.inference_mode():
        expected = plain(**enc).logits
        torch.testing.assert_close(lm.run(enc, logits=True).logits, expected, atol=1e-5, rtol=0)
        for check in ALL_BATCH_CHECKS:
            check(lm, enc, 1e-5)
