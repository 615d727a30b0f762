from __future__ import annotations

import pytest

from babellens.autointerp import ProviderError, explain_head, score_examples

from .fakes import CountingProvider


def test_explain_head_asks_once_and_cleans_the_answer():
    fake = CountingProvider(lambda m: "Explanation: The head is active after a city name.\n")
    text = explain_head(fake, ["in Paris"], ["a cat"], " Paris", max_tokens=50)
    assert text == "The head is active after a city name."
    [(messages, max_tokens, temperature)] = fake.calls
    assert (max_tokens, temperature) == (50, 0.0)
    assert '"in Paris"' in messages[-1]["content"] and '"a cat"' in messages[-1]["content"]


def test_empty_explanation_is_an_error():
    with pytest.raises(ProviderError, match="no explanation"):
        explain_head(CountingProvider(lambda m: "  \n"), ["x"], [], "y")


def test_score_examples_parses_each_answer_in_one_batch():
    replies = {"a": "Yes.", "b": "**No**", "c": "I am not sure"}

    def reply(messages):
        example = messages[-1]["content"].split("\n")[3].strip('"')
        return replies[example]

    fake = CountingProvider(reply)
    assert score_examples(fake, "active on letters", ["a", "b", "c"], "!") == [True, False, None]
    assert fake.batches == [3]
    assert {(mt, t) for _, mt, t in fake.calls} == {(8, 0.0)}
    assert score_examples(fake, "x", [], "!") == []
