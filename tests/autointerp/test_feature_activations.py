"""Feature activations for the sampler against a hand computation: capture, encode, mask."""

from __future__ import annotations

import pytest
import torch

from babellens.autointerp.feature_activations import collect_feature_activations
from babellens.autointerp.units import (
    UnitRef,
    dictionary_id_of,
    dictionary_source,
    feature_unit,
    parse_unit,
)
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import batches
from babellens.errors import InvalidInputError
from dictionary_fakes import random_dictionary, tiny_training_setup


@pytest.fixture(scope="module")
def setup():
    return tiny_training_setup("llama", repeat=2, window_len=24)


def _by_hand(lm, sd, windows, tokens_per_batch):
    """lm.run captures the raw hook tensor; encode it; zero padding and the BOS column."""
    width = max(w.n_tokens for w in windows)
    expected = torch.zeros((len(windows), width, sd.width), dtype=torch.float16)
    pad = resolve_pad_id(lm.tokenizer)
    for batch in batches(windows, tokens_per_batch=tokens_per_batch, pad_id=pad):
        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        x = lm.run(inputs, capture=[sd.hook_in])[sd.hook_in]
        with torch.inference_mode():
            codes = sd.encode(x.float()) * batch.attention_mask.unsqueeze(-1)
            codes[:, 0] = 0  # the byte tokenizer adds a BOS to every window
        for row, i in enumerate(batch.indices.tolist()):
            expected[i, : codes.shape[1]] = codes[row].to(torch.float16)
    return expected


@pytest.mark.parametrize(
    "hook,kind,activation",
    [("resid_post.1", "sae", "topk"), ("mlp_in.0", "transcoder", "jumprelu")],
)
def test_feature_activations_equal_capture_then_encode(setup, hook, kind, activation) -> None:
    lm, windows = setup
    assert windows[0].has_bos
    sd = random_dictionary(
        d_in=32, width=12, k=3, kind=kind, activation=activation, hook_in=hook, seed=4
    )
    acts = collect_feature_activations(
        lm, sd, windows, source="dict:7", member=2, tokens_per_batch=128
    )
    expected = _by_hand(lm, sd, windows, tokens_per_batch=128)
    assert (acts.source, acts.layer, acts.n_units) == ("dict:7", 2, 12)
    assert acts.values.dtype == torch.float16
    assert torch.equal(acts.values, expected)
    assert acts.values.abs().sum() > 0
    assert acts.lengths == [w.n_tokens for w in windows]
    assert acts.token_ids == [list(w.token_ids) for w in windows]


def test_the_pass_stops_after_the_layer_the_dictionary_reads(setup) -> None:
    lm, windows = setup
    sd = random_dictionary(d_in=32, width=8, k=2, hook_in="resid_post.0")
    calls = []
    last = lm.model.model.layers[2]
    handle = last.register_forward_hook(lambda *a: calls.append(1))
    try:
        collect_feature_activations(lm, sd, windows[:4], source="dict:1")
    finally:
        handle.remove()
    assert calls == []


def test_a_dictionary_of_another_width_or_no_windows_is_refused(setup) -> None:
    lm, windows = setup
    with pytest.raises(InvalidInputError, match="made for another model"):
        collect_feature_activations(lm, random_dictionary(d_in=6), windows, source="dict:1")
    with pytest.raises(InvalidInputError, match="no windows"):
        collect_feature_activations(lm, random_dictionary(d_in=32), [], source="dict:1")


def test_dictionary_sources_build_parse_and_stay_unique_across_members() -> None:
    assert dictionary_source(12) == "dict:12"
    assert dictionary_id_of("dict:12") == 12
    assert [dictionary_id_of(s) for s in ("neuron", "dict:", "dict:x", "dict:0")] == [None] * 4
    a, b = feature_unit(3, 0, 5), feature_unit(3, 1, 5)
    assert (a.key, b.key) == ("dict:3/0/5", "dict:3/1/5")
    assert parse_unit(b.key) == b == UnitRef(source="dict:3", layer=1, index=5)
    with pytest.raises(InvalidInputError):
        dictionary_source(0)
