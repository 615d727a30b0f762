"""Readable token pieces: multi-byte characters split over byte tokens stay whole."""

from __future__ import annotations

from babellens.models.token_text import token_pieces
from tiny_models import TINY_TEXTS, byte_tokenizer


def test_pieces_join_to_the_decoded_text_and_hold_no_broken_characters():
    tokenizer = byte_tokenizer()
    for text in TINY_TEXTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        pieces = token_pieces(tokenizer, ids)
        assert len(pieces) == len(ids)
        assert "".join(pieces) == tokenizer.decode(ids) == text
        assert all("\ufffd" not in p for p in pieces)


def test_each_character_goes_to_the_token_that_completes_it():
    tokenizer = byte_tokenizer()
    ids = tokenizer("aб", add_special_tokens=False)["input_ids"]  # 'б' is two bytes
    assert token_pieces(tokenizer, ids) == ["a", "", "б"]


def test_a_character_cut_by_the_window_edge_is_kept_as_it_is():
    tokenizer = byte_tokenizer()
    ids = tokenizer("б", add_special_tokens=False)["input_ids"][:1]
    assert token_pieces(tokenizer, ids) == [tokenizer.decode(ids)]
