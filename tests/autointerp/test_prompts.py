from __future__ import annotations

import json

import pytest

from babellens.autointerp import clean_explanation, explain_messages, parse_yes_no, score_messages
from babellens.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", True),
        ("no", False),
        ("YES.", True),
        ("**No**", False),
        ("__Yes__", True),
        ("  \n`yes`", True),
        ("Answer: No, the snippet is about cooking.", False),
        ("No. Yes.", False),
        ("Yes - but no", True),
        ("The answer is: yes!", True),
        ("Nope", None),
        ("Nothing noted; eyes open", None),
        ("None", None),
        ("yesterday", None),
        ("", None),
        ("I cannot tell.", None),
        ("Ja / Oui", None),
        ("no-op", False),
    ],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) is expected


ACTIVE = ["The capital of France is Paris", 'He said "bonjour"\nin Paris']
INACTIVE = ["I bought a new Paris"]


def test_explain_messages_show_every_example_and_the_token():
    messages = explain_messages(ACTIVE, INACTIVE, " Paris")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    active_part, inactive_part = user.split("is INACTIVE:")
    for text in ACTIVE:  # JSON-quoted: the newline and the quotes stay inside one line
        assert f". {json.dumps(text, ensure_ascii=False)}\n" in active_part + "\n"
    assert f"1. {json.dumps(INACTIVE[0])}" in inactive_part
    assert '" Paris"' in user  # the token, leading space visible
    assert "one sentence" in user
    assert "(none)" in explain_messages(ACTIVE, [], " Paris")[1]["content"]
    with pytest.raises(InvalidInputError, match="at least one"):
        explain_messages([], INACTIVE, " Paris")


def test_score_messages_hold_the_explanation_and_one_example():
    messages = score_messages("  Active after a mention of France. ", ACTIVE[1], " Paris")
    user = messages[1]["content"]
    assert "Active after a mention of France.\n" in user
    assert json.dumps(ACTIVE[1], ensure_ascii=False) in user
    assert '" Paris"' in user
    assert "Yes or No" in user and "Yes or No" in messages[0]["content"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The head is active after French words.", "The head is active after French words."),
        ("Explanation: The head fires on dates.\n\nMore detail.", "The head fires on dates."),
        ('\n  "Active on code snippets."  ', "Active on code snippets."),
        ("**Answer:** active before a closing bracket", "active before a closing bracket"),
        ("  \n ", ""),
    ],
)
def test_clean_explanation(text, expected):
    assert clean_explanation(text) == expected
