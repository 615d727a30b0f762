"""Analyses on the bundled models against computations straight from the HF weights."""

from __future__ import annotations

import pytest
import torch

import babellens
from babellens.analyses.next_token_neurons import NextTokenConfig, next_token_neurons
from babellens.data import load_corpus, make_windows

pytestmark = pytest.mark.integration


def test_promoted_tokens_match_hf_weights():
    lm = babellens.load("smollm2-135m")
    hf = lm.model
    layer = 29
    records = next_token_neurons(lm, NextTokenConfig(layers=[layer]))
    with torch.inference_mode():
        w_out = hf.model.layers[layer].mlp.down_proj.weight.T  # [d_mlp, d_model]
        congruence = (w_out * hf.model.norm.weight) @ hf.lm_head.weight.T
    for neuron in (0, 100, 1535):
        expected = congruence[neuron].topk(10)
        got = records[neuron]
        assert [t.token_id for t in got.promoted] == expected.indices.tolist()
        assert [t.score for t in got.promoted] == pytest.approx(expected.values.tolist(), abs=1e-4)
        assert got.suppressed[0].token_id == int(congruence[neuron].argmin())


def test_bundled_corpus_windows():
    corpus = load_corpus()
    assert set(corpus.languages) >= {"en", "de", "fr"}
    train, test = corpus.split("train"), corpus.split("test")
    assert train.documents and test.documents
    assert not {d.id for d in train.documents} & {d.id for d in test.documents}
    tok = babellens.models.loading.load_tokenizer("gemma3-270m")
    windows = make_windows(corpus, tok, window_len=128)
    assert all(w.token_ids[0] == tok.bos_token_id and w.n_tokens <= 128 for w in windows)
    first = windows[0]
    body = tok(corpus.documents[first.doc_index].text, add_special_tokens=False)["input_ids"]
    assert list(first.token_ids[1:]) == body[first.start : first.start + 127]
