"""The look-ups with the model-free explainer and scorer (``tokens`` / ``keywords``) on a tiny
model: no provider, and every score equal to one computed here from the report's own examples."""

from __future__ import annotations

import math
import re

import pytest
from pydantic import ValidationError

from babellens.autointerp import ContextTokensHeadExplainer
from babellens.jobs import cached_model
from babellens.lookups import LookupsConfig
from babellens.lookups.pipeline import prepare, run_lookups
from lookups_fakes import tiny_config, write_corpus

_WORD = re.compile(r"\w+")


@pytest.fixture(scope="module")
def report(tmp_path_factory, model_folder):
    corpus = write_corpus(tmp_path_factory.mktemp("corpus") / "c.jsonl")
    lm = cached_model(model_folder)
    config = tiny_config(corpus, explainer="tokens", explain_examples=4)
    return run_lookups(lm, config, state=prepare(lm, config))


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _has(words: list[str], term: list[str]) -> bool:
    return any(words[i : i + len(term)] == term for i in range(len(words) - len(term) + 1))


def _balanced_accuracy(truth: list[bool], said: list[bool]) -> float:
    tpr = sum(t and s for t, s in zip(truth, said, strict=True)) / sum(truth)
    tnr = sum(not t and not s for t, s in zip(truth, said, strict=True)) / (len(truth) - sum(truth))
    return (tpr + tnr) / 2


def test_the_report_names_the_model_free_pair(report) -> None:
    assert (report.explainer, report.scorer) == ("tokens", "keywords")
    assert report.config.scorer is None and report.config.scorer_spec == "keywords"


def test_every_score_equals_the_containment_rule_computed_here(report) -> None:
    scored = [h for n in report.neurons for h in n.heads if h.score is not None]
    assert scored, "the tiny run must score some (neuron, head) pairs"
    assert any('"' in h.explanation for h in scored)  # labels that quote words, not only "none"
    for h in scored:
        terms = [_words(q) for q in re.findall(r'"([^"]+)"', h.explanation)]
        test = [e for e in h.examples if e.split == "test"]
        # the scorer saw e.text + token; the context is e.text, the words before the token
        said = [any(_has(_words(e.text), t) for t in terms if t) for e in test]
        assert [e.predicted for e in test] == said
        assert h.score == pytest.approx(_balanced_accuracy([e.active for e in test], said))
        assert h.n_unparsed == 0


def test_every_label_quotes_over_represented_context_words_only(report) -> None:
    limit = report.config.explain_examples
    pairs = [(n, h) for n in report.neurons for h in n.heads]
    assert pairs
    for n, h in pairs:
        train = [e for e in h.examples if e.split == "train"]
        active = [e.text for e in train if e.active][:limit]
        inactive = [e.text for e in train if not e.active][:limit]
        # the pipeline's label is what the explainer gives on the snippets shown to it
        shown = ([s + n.token for s in active], [s + n.token for s in inactive])
        assert h.explanation == ContextTokensHeadExplainer().explain(*shown, n.token)
        own = set(_words(n.token))
        for quoted in re.findall(r'"([^"]+)"', h.explanation):
            term = _words(quoted)
            a = sum(_has(_words(s), term) for s in active)
            b = sum(_has(_words(s), term) for s in inactive)
            assert a >= min(2, len(active)) and not own & set(term)
            odds = math.log((a + 1) / (len(active) + 2)) - math.log((b + 1) / (len(inactive) + 2))
            assert odds > 0


def test_the_model_free_names_are_checked_by_role() -> None:
    with pytest.raises(ValidationError, match="'keywords' is the model-free scorer"):
        LookupsConfig(explainer="keywords")
    with pytest.raises(ValidationError, match="'tokens' is the model-free explainer"):
        LookupsConfig(explainer="tokens", scorer="tokens")
    # an LLM may score the model-free label, and the model-free scorer an LLM's explanation
    assert LookupsConfig(explainer="tokens", scorer="local:x").scorer_spec == "local:x"
    assert LookupsConfig(explainer="local:x", scorer="keywords").scorer_spec == "keywords"
    assert LookupsConfig(explainer="local:x").scorer_spec == "local:x"
