"""``models`` reads a model without binding hooks; ``babellens.load`` (capture) binds them."""

from __future__ import annotations

import torch

import babellens
from babellens.capture import LanguageModel
from babellens.models import PretrainedModel, load_pretrained
from tiny_models import save_tiny_folder


def test_load_pretrained_gives_the_plain_module_and_load_wraps_the_same_weights(tmp_path):
    folder = save_tiny_folder(tmp_path / "tiny", "llama")
    raw = load_pretrained(folder)
    assert isinstance(raw, PretrainedModel)
    assert (raw.name, raw.source) == (str(folder), "folder")
    assert not hasattr(raw.model, "adapter"), "no hook or adapter is bound in the models layer"
    lm = babellens.load(folder)
    assert isinstance(lm, LanguageModel) and babellens.load is babellens.capture.load
    enc = lm.tokenize(["one two three", "four"])
    with torch.inference_mode():
        expected = raw.model(**enc).logits
    assert torch.equal(lm.run(enc, logits=True).logits, expected)
    assert lm.tokenizer.padding_side == "right"
