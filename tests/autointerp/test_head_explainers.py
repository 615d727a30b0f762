"""The look-up head's explainer and scorer: the model-free floor on snippets whose right label is
known by hand, and the chat-provider adapter asking exactly what explain_head/score_examples ask."""

from __future__ import annotations

import math

import pytest

from babellens.autointerp import (
    ChatProvider,
    ContextTokensHeadExplainer,
    HeadExplainer,
    ProviderHeadExplainer,
    context_terms,
    explain_head,
    head_label,
    quoted_terms,
    score_examples,
)

from .fakes import CountingProvider

TOKEN = " Paris"
ACTIVE = [
    "She flew to France and saw" + TOKEN,
    "The capital of France is" + TOKEN,
    "In France the trains go to" + TOKEN,
    "Wine from France sold in" + TOKEN,
]
INACTIVE = [
    "He drove to the city of" + TOKEN,
    "The trains of Germany go to" + TOKEN,
    "Someone in Texas named it" + TOKEN,
    "A hotel called the" + TOKEN,
]


def _log_odds(a: int, n_a: int, b: int, n_b: int) -> float:
    return math.log((a + 1) / (n_a + 2)) - math.log((b + 1) / (n_b + 2))


def test_the_over_represented_word_is_found_with_its_hand_computed_log_odds() -> None:
    terms = context_terms(ACTIVE, INACTIVE, TOKEN, top=1)
    # "france" is in all 4 active snippets and no inactive one: log(5/6) - log(1/6) = log 5
    assert terms == [("france", round(_log_odds(4, 4, 0, 4), 4))]
    assert terms[0][1] == pytest.approx(math.log(5), abs=1e-4)
    explainer = ContextTokensHeadExplainer()
    label = explainer.explain(ACTIVE, INACTIVE, TOKEN)
    assert label.startswith('context contains "france"')


def test_the_neurons_own_word_is_never_part_of_the_label() -> None:
    # "paris" is in every active snippet's context too (and in none of the inactive ones'), and
    # would win if it counted; it is the neuron's word, so it must not
    active = [f"Paris and {w} went to" + TOKEN for w in ("Anna", "Bob", "Cy")]
    inactive = ["Nothing here leads to" + TOKEN, "More text before" + TOKEN]
    terms = [t for t, _ in context_terms(active, inactive, TOKEN, top=10)]
    assert terms and all("paris" not in t.split() for t in terms)
    # in all 3 active and no inactive snippet; single words first, then by name
    assert terms[:3] == ["and", "went", "went to"]
    # the trailing token itself is stripped: a one-word snippet body holds no candidate at all
    assert context_terms(["Paris" + TOKEN] * 3, ["x" + TOKEN], TOKEN) == []


def test_ties_break_by_active_count_then_length_then_name() -> None:
    active = ["zeta beta" + TOKEN, "alpha gamma" + TOKEN, "alpha zeta" + TOKEN, "beta" + TOKEN]
    inactive = ["omega" + TOKEN, "omega" + TOKEN]
    terms = context_terms(active, inactive, TOKEN, top=3)
    # alpha, beta, zeta: 2 of 4 active, 0 of 2 inactive, same log-odds; by name
    expected = round(_log_odds(2, 4, 0, 2), 4)
    assert terms == [("alpha", expected), ("beta", expected), ("zeta", expected)]
    # the same snippets in another order give the same label
    assert context_terms(active[::-1], inactive[::-1], TOKEN, top=3) == terms


def test_a_pair_of_words_wins_when_only_the_pair_separates_the_classes() -> None:
    active = ["in new york" + TOKEN, "to new york" + TOKEN, "a new york" + TOKEN]
    inactive = ["new shoes" + TOKEN, "york minster" + TOKEN, "new hat york" + TOKEN]
    assert context_terms(active, inactive, TOKEN, top=1)[0][0] == "new york"


def test_labels_read_as_one_sentence_and_nothing_found_quotes_nothing() -> None:
    assert head_label(["a"]) == 'context contains "a"'
    assert head_label(["a", "b"]) == 'context contains "a" or "b"'
    assert head_label(["a", "b", "c"]) == 'context contains "a", "b" or "c"'
    # one active snippet: a term needs only that one (min_count shrinks to the class size)
    one = ContextTokensHeadExplainer().explain(["just once" + TOKEN], ["x" + TOKEN], TOKEN)
    assert one == 'context contains "just", "once" or "just once"'
    # with nothing over-represented the label quotes nothing, and the scorer says No throughout
    same = ["the same words" + TOKEN] * 2
    label = ContextTokensHeadExplainer().explain(same, same, TOKEN)
    assert quoted_terms(label) == []
    assert ContextTokensHeadExplainer().score(label, same, TOKEN) == [False, False]


def test_the_scorer_says_yes_exactly_when_a_quoted_term_is_in_the_context() -> None:
    scorer = ContextTokensHeadExplainer("keywords")
    label = 'context contains "france", "new york" or "wine"'
    held_out = [
        "Cheese from FRANCE, sold in" + TOKEN,  # case-insensitive, punctuation around the word
        "We flew to New  York via" + TOKEN,  # a two-word term across any whitespace
        "We flew to New Jersey via" + TOKEN,  # "new" alone is not "new york"
        "A Francesca hotel in" + TOKEN,  # whole words only: no substring match
        "Winery tour in" + TOKEN,
        "Going to" + TOKEN,
    ]
    assert scorer.score(label, held_out, TOKEN) == [True, True, False, False, False, False]
    # the neuron's token at the end never counts: it ends every snippet
    assert scorer.score('context contains "paris"', ["Going to" + TOKEN], TOKEN) == [False]
    assert scorer.score('context contains "paris"', ["Paris, going to" + TOKEN], TOKEN) == [True]
    assert scorer.name == "keywords" and ContextTokensHeadExplainer().name == "tokens"


def test_the_model_free_pair_on_its_own_training_snippets() -> None:
    floor = ContextTokensHeadExplainer()
    label = floor.explain(ACTIVE, INACTIVE, TOKEN)
    # "in": 2 of 4 active, 1 of 4 inactive: log(3/6) - log(2/6) > 0, so it is quoted too, and
    # the inactive "Someone in Texas" snippet gets a Yes
    assert label == 'context contains "france" or "in"'
    assert floor.score(label, ACTIVE + INACTIVE, TOKEN) == [True] * 4 + [False, False, True, False]


def test_the_provider_adapter_asks_what_explain_head_and_score_examples_ask() -> None:
    def reply(messages):
        return "Yes" if "Snippet (" in messages[-1]["content"] else "The head is active on X."

    adapted, direct = CountingProvider(reply), CountingProvider(reply)
    head = ProviderHeadExplainer(adapted)
    assert isinstance(head, HeadExplainer) and not isinstance(adapted, HeadExplainer)
    assert isinstance(adapted, ChatProvider) and head.name == adapted.name
    assert head.explain(ACTIVE, INACTIVE, TOKEN) == explain_head(direct, ACTIVE, INACTIVE, TOKEN)
    got = head.score("The head is active on X.", INACTIVE, TOKEN)
    assert got == score_examples(direct, "The head is active on X.", INACTIVE, TOKEN)
    assert got == [True] * 4
    assert adapted.calls == direct.calls  # the same messages, max_tokens and temperature
    assert isinstance(ContextTokensHeadExplainer(), HeadExplainer)
