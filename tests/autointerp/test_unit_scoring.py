"""Scorers and explainers on synthetic units where the right explanation is known."""

from __future__ import annotations

import re

import numpy as np
from tests.autointerp.fakes import CountingProvider
from tests.autointerp.synthetic import WORDS, synthetic_layer

from babellens.autointerp.explainers import LLMExplainer, TokenStatsExplainer
from babellens.autointerp.sampling import SamplerConfig, sample_unit
from babellens.autointerp.scoring import (
    KeywordJudge,
    LLMJudge,
    ScoreSample,
    balanced_accuracy,
    bootstrap_interval,
    samples_for,
    score_samples,
)


def _units():
    acts, decode = synthetic_layer()
    return [sample_unit(acts, u, decode, SamplerConfig()) for u in range(4)]


def test_model_free_explainer_names_the_units_word() -> None:
    units = _units()
    texts = TokenStatsExplainer().explain_many(units)
    for u, text in enumerate(texts):
        assert text.startswith(f'the tokens "{WORDS[u].strip()}"'), text


def test_detection_and_fuzzing_are_perfect_for_the_right_word_and_chance_for_another() -> None:
    units = _units()
    judge = KeywordJudge()
    right, wrong = f'the tokens "{WORDS[0].strip()}"', f'the tokens "{WORDS[1].strip()}"'
    for scorer in ("detection", "fuzzing"):
        samples = samples_for(scorer, units[0], "s")
        own = score_samples(scorer, samples, judge.judge(right, samples))
        other = score_samples(scorer, samples, judge.judge(wrong, samples))
        assert (own.n_positive, own.n_negative) == (50, 50)
        assert own.value == 1.0 and own.low == 1.0
        assert 0.35 <= other.value <= 0.65 and other.low <= 0.5 <= other.high, (scorer, other)


def test_balanced_accuracy_by_hand_and_unreadable_answers_count_as_wrong() -> None:
    samples = [ScoreSample(text=str(i), label=i < 2, marked=False) for i in range(6)]
    # positives: yes, None -> 1/2 right; negatives: no, no, yes, no -> 3/4 right
    score = score_samples("detection", samples, [True, None, False, False, True, False])
    assert score.value == round((0.5 + 0.75) / 2, 4)
    assert score.unreadable == 1
    assert (score.n_positive, score.n_negative) == (2, 4)


def test_bootstrap_interval_brackets_the_estimate_and_shrinks_with_more_examples() -> None:
    rng = np.random.default_rng(1)
    small_labels = np.array([True] * 20 + [False] * 20)
    big_labels = np.array([True] * 400 + [False] * 400)
    small = rng.random(40) < 0.7
    big = rng.random(800) < 0.7
    lo_s, hi_s = bootstrap_interval(small, small_labels)
    lo_b, hi_b = bootstrap_interval(big, big_labels)
    assert lo_s <= balanced_accuracy(small, small_labels) <= hi_s
    assert lo_b <= balanced_accuracy(big, big_labels) <= hi_b
    assert hi_b - lo_b < (hi_s - lo_s) / 2


def _fake_llm(messages: list[dict[str, str]]) -> str:
    """Explains by the most frequent marked token; judges like the keyword judge."""
    user = messages[-1]["content"]
    if "have in common" in user:
        marked = re.findall(r"<<(.*?)>>", user)
        best = max(sorted(set(marked)), key=marked.count)
        return f'Explanation: the token "{best.strip()}"'
    explanation = re.search(r"Explanation of the unit: (.*)\n", user).group(1)
    term = re.search(r'"([^"]+)"', explanation).group(1)
    if "marked between" in user:
        text = user.split(">>: ", 1)[1].split("\n")[0]
        spans = re.findall(r"<<(.*?)>>", text)
        return "Yes" if spans and all(term in s for s in spans) else "No."
    text = user.split("Text: ", 1)[1].split("\n")[0]
    return "**Yes**" if term in text else "no"


def test_llm_explainer_and_judge_through_a_provider_with_a_known_answer() -> None:
    units = _units()
    fake = CountingProvider(_fake_llm)
    texts = LLMExplainer(fake).explain_many(units)
    assert texts == [f'the token "{w.strip()}"' for w in WORDS[:4]]
    assert fake.batches == [4]  # one batch for all units: the provider can run it concurrently
    judge = LLMJudge(fake)
    samples = samples_for("fuzzing", units[2], "s")
    assert score_samples("fuzzing", samples, judge.judge(texts[2], samples)).value == 1.0
    assert score_samples("fuzzing", samples, judge.judge(texts[3], samples)).value <= 0.6


def test_llm_answers_with_a_preamble_and_a_list_keep_the_list() -> None:
    from babellens.autointerp.explainers import unit_explanation

    answer = 'The marked tokens have in common the following:\n\n1. digits in prices\n- "€" signs'
    assert unit_explanation(answer) == 'digits in prices; "€" signs'
    assert unit_explanation('Explanation: "dog" and "cat"') == '"dog" and "cat"'
    assert unit_explanation("x" * 500) == "x" * 300


def test_copied_activation_marks_and_bold_leave_the_explanation_and_its_keywords() -> None:
    """Small explainers quote fragments with the examples' << >> marks still in them and bold
    words inside the sentence; neither belongs in the stored text or in the judge's terms."""
    from babellens.autointerp.explainers import unit_explanation
    from babellens.autointerp.scoring import KeywordJudge, ScoreSample

    assert unit_explanation('Fires on "<<cat>>" and "<<dog>>"') == 'Fires on "cat" and "dog"'
    assert unit_explanation('The token **"cat"** in names') == 'The token "cat" in names'
    samples = [
        ScoreSample(text="the cat sat", marked=False, label=True),
        ScoreSample(text="a dog ran", marked=False, label=False),
        ScoreSample(text="the <<cat>> sat", marked=True, label=True),
    ]
    # a raw answer that kept the marks still names the word "cat"
    assert KeywordJudge().judge('the word "<<cat>>"', samples) == [True, False, True]
