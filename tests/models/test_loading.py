"""Loading from folders and GGUF-less paths, and every error a user can meet while loading."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

from babellens import load
from babellens.errors import CorruptModelFileError, ModelNotAvailableError, NotACausalLMError
from babellens.models import loading
from tiny_models import save_tiny_folder


def test_load_folder_matches_plain_transformers(tmp_path):
    folder = save_tiny_folder(tmp_path / "tiny", "qwen2")
    lm = load(folder)
    assert lm.source == "folder" and lm.adapter.spec.name == "qwen2"
    enc = lm.tokenize(["héllo wörld", "a"])
    assert enc["input_ids"][0, 0].item() == 1, "BOS is added where the tokenizer says so"
    plain = tf.AutoModelForCausalLM.from_pretrained(folder)
    with torch.inference_mode():
        expected = plain(**enc).logits
    torch.testing.assert_close(lm.run(enc, logits=True).logits, expected, atol=1e-5, rtol=0)


def test_trust_remote_code_is_off_by_default(tmp_path, monkeypatch):
    seen = {}
    real = tf.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(tf.AutoModelForCausalLM, "from_pretrained", spy)
    load(save_tiny_folder(tmp_path / "tiny"))
    assert seen["trust_remote_code"] is False


@pytest.mark.parametrize("spec", ["not a model!", "./missing-folder", "/no/such/path"])
def test_unknown_model(spec):
    with pytest.raises(ModelNotAvailableError, match="unknown model"):
        load(spec)


def test_missing_gguf_and_folder_without_config(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        load(tmp_path / "nothing.gguf")
    with pytest.raises(ModelNotAvailableError, match=r"no config\.json"):
        load(tmp_path)


def test_bundled_model_not_pulled_says_how_to_pull():
    with pytest.raises(ModelNotAvailableError, match="babellens models pull smollm2-135m"):
        load("smollm2-135m")


def test_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ModelNotAvailableError, match="Hub cannot be reached"):
        load("some-org/some-model-that-is-not-cached")


def test_corrupt_gguf(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 10)
    with pytest.raises(CorruptModelFileError, match="truncated or corrupt"):
        load(bad)


def test_corrupt_weights_in_folder(tmp_path):
    folder = save_tiny_folder(tmp_path / "tiny")
    (folder / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CorruptModelFileError, match="corrupt"):
        load(folder)


@pytest.mark.parametrize(
    "config",
    [
        tf.BertConfig(
            vocab_size=64,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        ),
        tf.T5Config(vocab_size=64, d_model=16, num_layers=1, num_heads=2, d_ff=32),
    ],
    ids=["encoder-only", "encoder-decoder"],
)
def test_not_a_causal_lm(tmp_path, config):
    config.architectures = [
        "BertForMaskedLM" if config.model_type == "bert" else "T5ForConditionalGeneration"
    ]
    config.save_pretrained(tmp_path)
    with pytest.raises(NotACausalLMError, match="decoder-only"):
        load(tmp_path)


def test_unknown_dtype(tmp_path):
    from babellens.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown dtype"):
        load(save_tiny_folder(tmp_path / "t"), dtype="float8")
