from __future__ import annotations

import json
import threading

import pytest

from babellens.autointerp import CachedProvider, request_key

from .fakes import CountingProvider


def _msg(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_same_request_is_paid_once_even_across_instances(tmp_path):
    inner = CountingProvider()
    cached = CachedProvider(inner, tmp_path)
    assert cached.name == inner.name
    assert cached.complete(_msg("a")) == "answer to a"
    assert cached.complete(_msg("a")) == "answer to a"
    # a resumed run: a new wrapper on the same folder
    assert CachedProvider(inner, tmp_path).complete(_msg("a")) == "answer to a"
    assert len(inner.calls) == 1


def test_parameters_and_provider_name_are_part_of_the_key(tmp_path):
    inner = CountingProvider()
    cached = CachedProvider(inner, tmp_path)
    cached.complete(_msg("a"), max_tokens=10)
    cached.complete(_msg("a"), max_tokens=11)
    cached.complete(_msg("a"), max_tokens=10, temperature=0.7)
    CachedProvider(CountingProvider(name="fake:other"), tmp_path).complete(_msg("a"), max_tokens=10)
    assert [(c[1], c[2]) for c in inner.calls] == [(10, 0.0), (11, 0.0), (10, 0.7)]
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_complete_many_asks_only_for_misses_once_each(tmp_path):
    inner = CountingProvider()
    cached = CachedProvider(inner, tmp_path)
    cached.complete(_msg("b"))
    answers = cached.complete_many([_msg("a"), _msg("b"), _msg("a"), _msg("c")])
    assert answers == ["answer to a", "answer to b", "answer to a", "answer to c"]
    assert sorted(m[0]["content"] for m, _, _ in inner.calls) == ["a", "b", "c"]
    assert inner.batches == [1, 2]  # b alone, then a and c together
    assert cached.complete_many([_msg("c"), _msg("b")]) == ["answer to c", "answer to b"]
    assert len(inner.calls) == 3


def test_file_is_named_by_the_hash_and_written_atomically(tmp_path):
    cached = CachedProvider(CountingProvider(), tmp_path)
    cached.complete(_msg("é"), max_tokens=5)
    key = request_key("fake:counting", _msg("é"), 5, 0.0)
    assert len(key) == 64
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.json"]  # no temporary file left
    stored = json.loads((tmp_path / f"{key}.json").read_text(encoding="utf-8"))
    assert stored == {
        "provider": "fake:counting",
        "messages": _msg("é"),
        "max_tokens": 5,
        "temperature": 0.0,
        "response": "answer to é",
    }


def test_damaged_file_is_a_miss_and_is_repaired(tmp_path):
    inner = CountingProvider()
    cached = CachedProvider(inner, tmp_path)
    cached.path(request_key(inner.name, _msg("a"), 256, 0.0)).write_text("{not json")
    assert cached.complete(_msg("a")) == "answer to a"
    assert cached.complete(_msg("a")) == "answer to a"
    assert len(inner.calls) == 1


def test_failed_call_is_not_cached(tmp_path):
    def fail(messages):
        raise RuntimeError("down")

    inner = CountingProvider(fail)
    cached = CachedProvider(inner, tmp_path)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="down"):
            cached.complete(_msg("a"))
    assert list(tmp_path.iterdir()) == []
    assert len(inner.calls) == 2  # nothing stored, so the second try asks again


def test_concurrent_callers_of_one_request_pay_once(tmp_path):
    inner = CountingProvider(delay_s=0.2)
    cached = CachedProvider(inner, tmp_path)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cached.complete(_msg("a"))))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["answer to a"] * 4
    assert len(inner.calls) == 1
