"""Corpus loaders and windows on small files made here."""

from __future__ import annotations

import json

import pytest

from babellens.data import (
    Corpus,
    CorpusError,
    Document,
    batches,
    load_corpus,
    make_windows,
    uses_bos,
)
from tiny_models import byte_tokenizer


def test_jsonl_txt_and_folder(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"id": "x", "text": "hello", "split": "test", "lang": "en"})
        + "\n\n"
        + json.dumps({"text": "world"})
        + "\n"
    )
    (tmp_path / "b.txt").write_text("a plain text document", encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert [d.text for d in corpus.documents] == ["hello", "world", "a plain text document"]
    assert corpus.documents[0] == Document("x", "hello", "test", "en", None)
    test_docs = load_corpus(tmp_path / "a.jsonl", split="test").documents
    assert corpus.documents[0] in test_docs and all(d.split == "test" for d in test_docs)
    again = load_corpus(tmp_path)
    assert [d.split for d in again.documents] == [d.split for d in corpus.documents], (
        "hash split is stable"
    )


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["one", "two"], "id": ["p1", "p2"]}), tmp_path / "c.parquet")
    assert [d.id for d in load_corpus(tmp_path / "c.parquet").documents] == ["p1", "p2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ("{not json\n", "not valid JSON"), ('{"title": "x"}\n', "no string 'text'")],
)
def test_bad_corpora(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(path)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "missing.jsonl")
    (tmp_path / "x.csv").write_text("text\nhi\n")
    with pytest.raises(CorpusError, match="unsupported corpus file"):
        load_corpus(tmp_path / "x.csv")


def test_hf_dataset_offline_is_a_clear_error():
    pytest.importorskip("datasets")
    with pytest.raises(CorpusError, match="Hugging Face"):
        load_corpus("hf:some-org/some-dataset-that-does-not-exist")


def test_windows_remember_offsets_and_add_bos():
    tok = byte_tokenizer()
    assert uses_bos(tok)
    corpus = Corpus("c", (Document("a", "abcdefghij"), Document("b", "xyz")))
    windows = make_windows(corpus, tok, window_len=5)
    assert [(w.doc_index, w.start, w.n_tokens) for w in windows] == [
        (0, 0, 5),
        (0, 4, 5),
        (0, 8, 3),
        (1, 0, 4),
    ]
    assert all(w.token_ids[0] == tok.bos_token_id for w in windows)
    assert tok.decode(windows[1].token_ids[1:]) == "efgh"
    capped = make_windows(corpus, tok, window_len=5, max_tokens=6)
    assert sum(w.n_tokens - 1 for w in capped) == 6


def test_batches_respect_the_token_budget():
    tok = byte_tokenizer()
    corpus = Corpus("c", tuple(Document(str(i), "x" * (i + 1)) for i in range(10)))
    windows = make_windows(corpus, tok, window_len=6)
    seen = []
    for batch in batches(windows, tokens_per_batch=12):
        assert batch.input_ids.numel() <= 12
        assert batch.attention_mask.sum() == sum(
            windows[i].n_tokens for i in batch.indices.tolist()
        )
        seen += batch.indices.tolist()
    assert seen == list(range(len(windows)))
