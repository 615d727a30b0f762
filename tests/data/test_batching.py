"""The one batching helper and the one pad-id rule."""

from __future__ import annotations

import types

import pytest
import torch

from babellens.data import Corpus, Document, batches, make_windows
from babellens.data.batching import pad_batch, resolve_pad_id, token_batches
from babellens.errors import InvalidInputError
from tiny_models import byte_tokenizer


def test_pad_id_rule():
    tok = types.SimpleNamespace
    assert resolve_pad_id(tok(pad_token_id=7, eos_token_id=2)) == 7
    assert resolve_pad_id(tok(pad_token_id=0, eos_token_id=2)) == 0  # 0 is a real pad id
    assert resolve_pad_id(tok(pad_token_id=None, eos_token_id=2)) == 2
    assert resolve_pad_id(tok(pad_token_id=None, eos_token_id=None)) == 0
    assert resolve_pad_id(None) == 0


def test_pad_batch_right_and_left():
    seqs = [[5, 6, 7], [8]]
    ids, mask = pad_batch(seqs, 9)
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_batch(seqs, 9, side="left")
    assert ids.tolist() == [[5, 6, 7], [9, 9, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == mask.dtype == torch.long
    with pytest.raises(InvalidInputError, match="padding side"):
        pad_batch(seqs, 0, side="middle")  # type: ignore[arg-type]


def test_pad_batch_matches_the_tokenizers_own_padding():
    tok = byte_tokenizer()
    texts = ["a longer text", "short"]
    rows = [tok(t)["input_ids"] for t in texts]
    for side in ("right", "left"):
        tok.padding_side = side
        expected = tok(texts, return_tensors="pt", padding=True)
        ids, mask = pad_batch(rows, resolve_pad_id(tok), side=side)
        assert torch.equal(ids, expected["input_ids"])
        assert torch.equal(mask, expected["attention_mask"])
    tok.padding_side = "right"


def test_token_budget_and_batch_size():
    seqs = [[1] * n for n in (3, 5, 2, 4, 4, 1)]
    by_budget = list(token_batches(seqs, 0, tokens_per_batch=10))
    # rows stay in order; longest × rows <= 10, one row at least
    assert [b.rows for b in by_budget] == [[0, 1], [2, 3], [4, 5]]
    assert all(b.input_ids.numel() <= 10 for b in by_budget)
    assert [b.rows for b in token_batches(seqs, 0, tokens_per_batch=2)][:2] == [[0], [1]]
    by_length = list(token_batches(seqs, 0, batch_size=4, by_length=True))
    assert [b.rows for b in by_length] == [[5, 2, 0, 3], [4, 1]]
    assert by_length[0].attention_mask.sum(1).tolist() == [1, 2, 3, 4]
    assert [b.rows for b in token_batches(seqs, 0, tokens_per_batch=10, start=4)] == [[4, 5]]
    with pytest.raises(InvalidInputError, match="at least 1"):
        list(token_batches(seqs, 0, batch_size=0))
    with pytest.raises(InvalidInputError, match="empty"):
        list(token_batches([[1], []], 0, batch_size=2))
    with pytest.raises(InvalidInputError, match="not both"):
        list(token_batches(seqs, 0))


def test_window_batches_are_the_old_packing():
    """The windows' batches, re-expressed on token_batches, pack exactly as before (by hand)."""
    tok = byte_tokenizer()
    corpus = Corpus("t", [Document("d", "abcdefghij" * 3 + "xyz", "en")])
    windows = make_windows(corpus, tok, window_len=8)
    got = list(batches(windows, tokens_per_batch=20, pad_id=0, start=1))
    expected_rows, i = [], 1
    while i < len(windows):  # the original loop
        longest, j = windows[i].n_tokens, i + 1
        while j < len(windows) and max(longest, windows[j].n_tokens) * (j - i + 1) <= 20:
            longest, j = max(longest, windows[j].n_tokens), j + 1
        expected_rows.append(list(range(i, j)))
        i = j
    assert [b.indices.tolist() for b in got] == expected_rows
    for b in got:
        for row, w in enumerate(b.indices.tolist()):
            n = windows[w].n_tokens
            assert b.input_ids[row, :n].tolist() == list(windows[w].token_ids)
            assert b.attention_mask[row].sum() == n and (b.input_ids[row, n:] == 0).all()
