"""The sweep's kind of each architecture: recurrent and hybrid models found by a rule (per-layer
types, state-space parameters, convolutions along positions outside attention), not a list."""

from __future__ import annotations

import pytest

from models.tiny_configs import _RECURRENT_UNSEEN, kind_of


@pytest.mark.parametrize(
    ("model_type", "why"),
    [
        ("inkling_text", "short convolutions on the residual stream, outside attention"),
        ("inkling2_text", "short convolutions after attention and the MLP"),
        ("mamba", "A_log, a state-space parameter"),
        ("rwkv", "time_decay, RWKV's recurrence"),
        ("qwen3_next", "layer_types name linear_attention"),
        ("recurrent_gemma", "block_types name recurrent"),
        ("zamba2", "layers_block_type names linear_attention"),
    ],
)
def test_recurrent_and_hybrid_models_are_found_by_the_rule(model_type, why):
    assert model_type not in _RECURRENT_UNSEEN.split()
    assert kind_of(model_type) == "recurrent", why


@pytest.mark.parametrize(
    ("model_type", "why"),
    [
        ("llama", "attention and an MLP only"),
        ("zaya", "its convolutions sit inside attention (compressed convolutional attention)"),
        ("moss_transcribe_diarize", "its convolutions belong to the audio encoder"),
        ("phi4_multimodal", "its depthwise convolutions belong to the audio encoder"),
        ("gpt2", "GPT-2's Conv1D is a linear layer, not a convolution"),
    ],
)
def test_attention_decoders_stay_decoders(model_type, why):
    assert kind_of(model_type) == "decoder", why


def test_only_models_whose_tiny_build_shows_nothing_are_named_by_hand():
    assert set(_RECURRENT_UNSEEN.split()) == {"xlstm", "lfm2", "lfm2_moe"}
