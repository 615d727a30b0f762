"""benchmarks/run_autointerp_llm.py's rows on a tiny model against a scripted OpenAI server.

An LLM that answers exactly what the model-free explainer says must score exactly as the
model-free row does (the same explanations through HTTP, the answer cleaner and the keyword
judge); a judge that always says Yes must score 0.5 on both scorers; requests go one at a time
and a second run is answered from the cache alone.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from tests.autointerp.fake_openai import Reply, answer, fake_openai
from tests.tiny_models import TINY_TEXTS, tiny_lm_with_tokenizer

from babellens.autointerp import (
    ExplainConfig,
    KeywordJudge,
    SamplerConfig,
    TokenStatsExplainer,
    UnitRef,
    collect_neuron_activations,
)
from babellens.data.corpus import Corpus, Document
from babellens.data.windows import make_windows

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench = importlib.import_module("run_autointerp_llm")

CONFIG = ExplainConfig(
    sampler=SamplerConfig(n_train=10, n_test=10, n_non_activating=10, min_examples=6, ctx_len=8),
)


@pytest.fixture(scope="module")
def setup():
    lm = tiny_lm_with_tokenizer("llama")
    docs = tuple(Document(id=str(i), text=t * 6) for i, t in enumerate(TINY_TEXTS))
    windows = make_windows(Corpus("tiny", docs), lm.tokenizer, window_len=48)
    units = [UnitRef(layer=1, index=i) for i in range(6)]
    return lm, windows, units, collect_neuron_activations(lm, windows, [1])


def _scores(row: dict) -> list[tuple]:
    return [
        (s["scorer"], s["units"], s["mean"], s["random_mean"], s["wins"]) for s in row["scores"]
    ]


def test_an_llm_that_repeats_the_model_free_labels_scores_exactly_as_the_model_free_row(
    setup, tmp_path
):
    lm, windows, units, acts = setup
    floor = bench._row(
        "floor",
        lm,
        windows,
        units,
        TokenStatsExplainer(),
        KeywordJudge(),
        CONFIG,
        acts,
        keep=len(units),
    )
    labels = [e["explanation"] for e in floor["examples"]]
    assert len(labels) >= 3
    with fake_openai([Reply(body=answer(text)) for text in labels]) as server:
        spec = f"openai:{server.base_url}:fake"
        llm = bench.llm_provider(spec, None, concurrency=1, timeout_s=30)
        first, second = bench.keyword_rows("neurons", lm, windows, units, acts, llm, CONFIG, 100)
    assert len(server.requests) == len(labels) and server.max_in_flight == 1
    assert first["explainer"] == "tokens" and second["explainer"] == f"llm:{spec}"
    assert [e["explanation"] for e in second["examples"]] == labels
    assert _scores(second) == _scores(first) == _scores(floor)
    assert [e["scores"] for e in second["examples"]] == [e["scores"] for e in floor["examples"]]


def test_a_second_run_is_answered_from_the_cache_alone_on_the_first_scored_units(setup, tmp_path):
    lm, windows, units, acts = setup
    with fake_openai() as server:  # echoes the prompt back: a deterministic "explanation"
        spec = f"openai:{server.base_url}:fake"
        llm = bench.llm_provider(spec, str(tmp_path), concurrency=1, timeout_s=30)
        floor, same, once = bench.keyword_rows("neurons", lm, windows, units, acts, llm, CONFIG, 2)
        asked = len(server.requests)
        again = list(bench.keyword_rows("neurons", lm, windows, units, acts, llm, CONFIG, 2))[2]
    assert asked == 2 and len(server.requests) == asked
    first_two = [e["unit"] for e in floor["examples"]][:2]
    assert floor["units_scored"] > 2 and same["explainer"] == "tokens"
    assert (
        [e["unit"] for e in same["examples"]] == [e["unit"] for e in once["examples"]] == first_two
    )
    assert [e["explanation"] for e in same["examples"]] == [
        e["explanation"] for e in floor["examples"][:2]
    ]
    assert again["examples"] == once["examples"] and _scores(again) == _scores(once)


def test_a_judge_that_always_says_yes_scores_one_half(setup):
    lm, windows, units, acts = setup
    with fake_openai([Reply(body=answer("Yes.")) for _ in range(4000)]) as server:
        spec = f"openai:{server.base_url}:fake"
        llm = bench.llm_provider(spec, None, concurrency=1, timeout_s=30)
        row = bench.judge_row(
            "neurons", TokenStatsExplainer(), lm, windows, units, acts, llm, CONFIG
        )
        asked = len(server.requests)
    assert row["judge"] == f"llm:{spec}" and row["units_scored"] >= 3
    # every held-out example asked twice per scorer: with the unit's and with a random explanation
    expected = sum(2 * s["units"] * s["examples_per_unit"] for s in row["scores"])
    assert asked == pytest.approx(expected, abs=0.1 * len(row["scores"]) * row["units_scored"])
    assert [(s["mean"], s["random_mean"]) for s in row["scores"]] == [(0.5, 0.5), (0.5, 0.5)]
