"""The explain-and-score pipeline on a tiny model: activations against a plain forward, resume."""

from __future__ import annotations

import pytest
import torch
from tests.tiny_models import TINY_TEXTS, tiny_lm_with_tokenizer

from babellens.autointerp.activations import collect_neuron_activations
from babellens.autointerp.explainers import TokenStatsExplainer
from babellens.autointerp.pipeline import ExplainConfig, explain_units, random_partners
from babellens.autointerp.sampling import SamplerConfig
from babellens.autointerp.scoring import KeywordJudge
from babellens.autointerp.units import UnitRef, parse_unit
from babellens.control import LocalControl, StopRequested
from babellens.data.corpus import Corpus, Document
from babellens.data.windows import make_windows
from babellens.errors import InvalidInputError


@pytest.fixture(scope="module")
def lm():
    return tiny_lm_with_tokenizer("llama")


@pytest.fixture(scope="module")
def windows(lm):
    docs = tuple(Document(id=str(i), text=t * 6) for i, t in enumerate(TINY_TEXTS))
    return make_windows(Corpus("tiny", docs), lm.tokenizer, window_len=48)


CONFIG = ExplainConfig(
    sampler=SamplerConfig(n_train=10, n_test=10, n_non_activating=10, min_examples=6, ctx_len=8),
    batch_units=3,
)


def test_activations_match_a_plain_forward_with_a_hook(lm, windows) -> None:
    acts = collect_neuron_activations(lm, windows, [1])[1]
    seen = []
    mlp = lm.model.model.layers[1].mlp
    handle = mlp.down_proj.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    try:
        with torch.no_grad():
            lm.model(input_ids=torch.tensor([windows[3].token_ids]))
    finally:
        handle.remove()
    n = windows[3].n_tokens
    torch.testing.assert_close(acts.values[3, :n].float(), seen[0][0].float(), atol=2e-3, rtol=2e-3)
    assert acts.values[3, n:].abs().sum() == 0 or n == acts.values.shape[1]


def test_pipeline_scores_every_unit_beside_a_random_partner(lm, windows) -> None:
    units = [UnitRef(layer=1, index=i) for i in range(6)]
    results = explain_units(lm, windows, units, TokenStatsExplainer(), KeywordJudge(), CONFIG)
    assert results and all(r.explainer == "tokens" and r.judge == "keywords" for r in results)
    keys = [r.unit.key for r in results]
    for r in results:
        assert [s.score.scorer for s in r.scores] == ["detection", "fuzzing"]
        for s in r.scores:
            assert s.random is not None and s.random_of is not None
            assert s.random_of.key != r.unit.key and s.random_of.key in keys
            assert s.score.n_positive == s.random.n_positive > 0
            assert s.score.low <= s.score.value <= s.score.high


def test_kill_and_resume_give_the_uninterrupted_result(lm, windows) -> None:
    units = [UnitRef(layer=1, index=i) for i in range(6)]
    whole = explain_units(lm, windows, units, TokenStatsExplainer(), KeywordJudge(), CONFIG)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] == 2  # stop after the second batch

    control = LocalControl(stop=stop)
    with pytest.raises(StopRequested):
        explain_units(lm, windows, units, TokenStatsExplainer(), KeywordJudge(), CONFIG, control)
    assert control.load_state() is not None and control.load_state().done > 0
    control.stop = None
    resumed = explain_units(
        lm, windows, units, TokenStatsExplainer(), KeywordJudge(), CONFIG, control
    )
    assert [r.model_dump() for r in resumed] == [r.model_dump() for r in whole]


def test_partners_are_a_derangement_and_bad_units_are_refused(lm, windows) -> None:
    keys = [f"neuron/0/{i}" for i in range(9)]
    partners = random_partners(keys, 3)
    assert sorted(partners) == sorted(keys) and sorted(partners.values()) == sorted(keys)
    assert all(k != v for k, v in partners.items())
    assert parse_unit("3/17") == UnitRef(source="neuron", layer=3, index=17)
    with pytest.raises(InvalidInputError):
        parse_unit("x")
    with pytest.raises(InvalidInputError, match="out of range"):
        explain_units(
            lm, windows, [UnitRef(layer=1, index=999)], TokenStatsExplainer(), KeywordJudge()
        )
    with pytest.raises(InvalidInputError, match="cannot be explained yet"):
        explain_units(
            lm,
            windows,
            [UnitRef(source="sae:x", layer=1, index=0)],
            TokenStatsExplainer(),
            KeywordJudge(),
        )
