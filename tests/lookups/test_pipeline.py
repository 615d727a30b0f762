"""The pipeline on a tiny model with scripted providers: the wiring from the model's ground truth
to the scores is checked by scorers whose balanced accuracy is known in advance."""

from __future__ import annotations

import itertools
import random

import pytest

from babellens.jobs import cached_model
from babellens.lookups.pipeline import prepare, run_lookups
from babellens.lookups.stats import balanced_accuracy
from lookups_fakes import EXPLANATION, ScriptedProvider, tag_of, tiny_config, write_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> str:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "c.jsonl")


@pytest.fixture(scope="module")
def lm(model_folder):
    return cached_model(model_folder)


@pytest.fixture(scope="module")
def state(lm, corpus):
    return prepare(lm, tiny_config(corpus))


def _run(lm, corpus, state, provider, ablation: bool = False, **overrides):
    """The scoring tests need no ablation: leaving it out keeps them quick."""
    config = tiny_config(corpus, ablation=ablation, **overrides)
    return run_lookups(
        lm, config, state=state.model_copy(deep=True), explainer=provider, scorer=provider
    )


def _pairs(report):
    return [(n, h) for n in report.neurons for h in n.heads]


def test_always_yes_scores_one_half_and_every_pair_is_explained(lm, corpus, state):
    always = ScriptedProvider("yes")
    report = _run(lm, corpus, state, always)
    assert [(n.group, n.layer) for n in report.neurons] == [("next_token", 2)] * 2 + [("random", 2)]
    pairs = _pairs(report)
    assert pairs and all(h.explanation.startswith(EXPLANATION) for _, h in pairs)
    assert always.explain_calls == len(pairs)
    scored = [h for _, h in pairs if h.score is not None]
    assert scored and all(h.score == 0.5 for h in scored)  # TPR 1, TNR 0
    for n, h in pairs:
        assert 0.1 <= h.active_fraction <= 0.9
        train = [e for e in h.examples if e.split == "train"]
        assert len(train) == n.n_train and h.active_fraction == pytest.approx(
            sum(e.active for e in train) / len(train)
        )
        test = [e for e in h.examples if e.split == "test"]
        assert len(test) == n.n_test == h.n_test
        if h.score is None:  # skipped: the test prompts lack a class, and no scorer call was made
            assert all(e.active for e in test) or not any(e.active for e in test)
            assert all(e.predicted is None for e in test)
    # every scorer call showed a held-out prompt with the neuron's token appended
    tests = {
        e.text + n.token
        for n, h in pairs
        for e in h.examples
        if e.split == "test" and h.score is not None
    }
    assert set(always.snippets) == tests
    g = report.group("next_token")
    assert g.scored == sum(1 for n, h in pairs if n.group == "next_token" and h.score is not None)
    assert g.scored > 0 and g.score is not None and g.score.mean == 0.5


def test_an_oracle_scores_one_and_a_contrarian_zero(lm, corpus, state):
    truth = _run(lm, corpus, state, ScriptedProvider("probe"))
    active = {
        (tag_of(h.explanation), e.text + n.token)
        for n, h in _pairs(truth)
        for e in h.examples
        if e.split == "test" and e.active
    }
    inactive = {
        (tag_of(h.explanation), e.text + n.token)
        for n, h in _pairs(truth)
        for e in h.examples
        if e.split == "test" and not e.active
    }
    # two heads active on the same train prompts get the same explanation: an oracle keyed on it
    # cannot tell them apart where their test prompts disagree
    ambiguous = {t for t, _ in active & inactive}
    oracle = _run(
        lm,
        corpus,
        state,
        ScriptedProvider("oracle", lambda s, t: "Yes" if (t, s) in active else "No"),
    )
    scores = [
        h.score
        for _, h in _pairs(oracle)
        if h.score is not None and tag_of(h.explanation) not in ambiguous
    ]
    assert scores and all(s == 1.0 for s in scores)
    contrarian = _run(
        lm,
        corpus,
        state,
        ScriptedProvider("contra", lambda s, t: "No" if (t, s) in active else "**Yes.**"),
    )
    contrary = [
        h.score
        for _, h in _pairs(contrarian)
        if h.score is not None and tag_of(h.explanation) not in ambiguous
    ]
    assert contrary and all(s == 0.0 for s in contrary)


def test_unparsed_answers_count_as_no(lm, corpus, state):
    mumble = ScriptedProvider("mumble", lambda s, t: "I cannot tell.")
    report = _run(lm, corpus, state, mumble)
    scored = [h for _, h in _pairs(report) if h.score is not None]
    assert scored
    for h in scored:
        test = [e for e in h.examples if e.split == "test"]
        assert h.n_unparsed == len(test) and h.score == 0.5  # all "No": TPR 0, TNR 1
        assert all(e.predicted is None for e in test)


def test_the_score_is_the_balanced_accuracy_of_the_recorded_answers(lm, corpus, state):
    rng = random.Random(1)
    coin = ScriptedProvider("coin", lambda s, t: rng.choice(["Yes", "No"]))
    report = _run(lm, corpus, state, coin)
    scored = [h for _, h in _pairs(report) if h.score is not None]
    assert scored
    for h in scored:
        test = [e for e in h.examples if e.split == "test"]
        assert h.score == pytest.approx(
            balanced_accuracy([e.active for e in test], [bool(e.predicted) for e in test])
        )


def test_examples_are_the_truncated_prompts_with_their_attributions(lm, corpus, state):
    report = _run(lm, corpus, state, ScriptedProvider("yes2"), ablation=True)
    _n, h = _pairs(report)[0]
    for e in h.examples:
        assert e.n_tokens <= 100 and e.activation >= 0.8 * e.original - 1e-5
    for e in h.examples:  # train: the clean and the ablated P(token) are probabilities
        if e.split == "train":
            assert 0 < e.probability < 1 and 0 <= e.probability - e.ablation_drop <= 1
        else:
            assert e.ablation_drop is None and e.probability is None
    assert report.split.train_source == "targeted pass" and report.split.test_documents == 4


def test_a_token_budget_samples_every_language():
    from babellens.data.corpus import Corpus, Document
    from babellens.lookups.pipeline import _interleaved

    docs = [
        Document(f"{lang}{i}", "x", "train", lang)
        for lang, n in (("en", 3), ("de", 1), ("fr", 2))
        for i in range(n)
    ]
    order = [d.id for d in _interleaved(Corpus("c", tuple(docs))).documents]
    assert order == ["de0", "en0", "fr0", "en1", "fr1", "en2"]


def test_max_heads_keeps_the_most_often_active(lm, corpus, state):
    capped = _run(lm, corpus, state, ScriptedProvider("cap"), max_heads=1)
    for n in capped.neurons:
        band = [f for f in n.frequent_heads if 0.1 <= f.fraction <= 0.9]
        assert [(h.layer, h.head) for h in n.heads] == [(f.layer, f.head) for f in band[:1]]
        assert all(a.fraction >= b.fraction for a, b in itertools.pairwise(band))


def test_each_neuron_records_its_wall_time_per_step(lm, corpus, state):
    report = _run(lm, corpus, state, ScriptedProvider("clock"), ablation=True)
    assert any(n.heads for n in report.neurons)
    for n in report.neurons:
        assert {"truncate", "attribute"} <= n.phase_seconds.keys()
        if n.heads:
            assert {"explain", "ablate"} <= n.phase_seconds.keys()
        assert sum(n.phase_seconds.values()) <= n.seconds + 1e-6
