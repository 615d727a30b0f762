"""Explain and score the neurons of one smollm2-135m layer with each explainer, beside the
random-explanation baseline; wall time per 100 units. Writes results/autointerp.json.

    PYTHONPATH=src python benchmarks/run_autointerp.py [--layer 15] [--units 300] [--llm-units 24]
"""

from __future__ import annotations

import argparse
import time

from doc_tables import save_result

from babellens.autointerp import (
    ExplainConfig,
    KeywordJudge,
    LLMExplainer,
    LLMJudge,
    SamplerConfig,
    TokenStatsExplainer,
    UnitRef,
    collect_neuron_activations,
    explain_units,
    get_provider,
)
from babellens.autointerp.summary import summarize
from babellens.capture.language_model import load
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows


def stored_member(db_url: str, dictionary: int, layer: int):
    """A stored transcoder set's info, the position of its member reading ``layer``, and that
    member (exits with a message when no member reads it)."""
    from babellens.store import open_database
    from babellens.store.dictionaries import DictionaryStore
    from babellens.store.transcoder_sets import member_of_layer

    store = DictionaryStore(open_database(db_url))
    info = store.get(dictionary)
    member = member_of_layer(info).get(layer)
    if member is None:
        raise SystemExit(f"dictionary {info.id} has no member reading layer {layer}")
    (sd,) = store.load(dictionary, info.members[member][0])
    return info, member, sd


def _example(result) -> dict:
    """A unit's explanation and, per scorer, its score beside its random explanation's."""
    return {
        "unit": result.unit.key,
        "explanation": result.explanation,
        "scores": {
            s.score.scorer: [s.score.value, s.random.value if s.random else None]
            for s in result.scores
        },
    }


def _row(
    name, lm, windows, units, explainer, judge, config, acts, *, keep: int = 8, control=None
) -> dict:
    """One table row; ``keep``: how many units' explanations the JSON quotes."""
    start = time.perf_counter()
    results = explain_units(
        lm, windows, units, explainer, judge, config, control=control, activations=acts
    )
    seconds = time.perf_counter() - start
    return {
        "row": name,
        "explainer": explainer.name,
        "judge": judge.name,
        "units_asked": len(units),
        "units_scored": len(results),
        "seconds": round(seconds, 1),
        "seconds_per_100_units": round(100 * seconds / max(1, len(units)), 1),
        "seconds_per_100_scored": round(100 * seconds / max(1, len(results)), 1),
        "scores": [s.model_dump() for s in summarize(results)],
        "examples": [_example(r) for r in results[:keep]],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--llm-units", type=int, default=24)
    parser.add_argument("--judge-units", type=int, default=6)
    parser.add_argument("--llm", default="local:qwen2.5-coder-0.5b")
    parser.add_argument("--tokens", type=int, default=32_768)
    args = parser.parse_args()
    lm = load(args.model)
    windows = make_windows(load_corpus(), lm.tokenizer, window_len=64, max_tokens=args.tokens)
    units = [UnitRef(layer=args.layer, index=i) for i in range(args.units)]
    header = {
        "model": args.model,
        "layer": args.layer,
        "corpus_tokens": sum(w.n_tokens for w in windows),
        "llm": args.llm,
    }
    rows: list[dict] = []
    start = time.perf_counter()
    acts = collect_neuron_activations(lm, windows, [args.layer])
    header["forward_seconds"] = round(time.perf_counter() - start, 1)

    def add(row: dict) -> None:  # saved after every row: a long run keeps what it finished
        rows.append(row)
        save_result("autointerp", {**header, "rows": rows})

    add(
        _row(
            "model-free",
            lm,
            windows,
            units,
            TokenStatsExplainer(),
            KeywordJudge(),
            ExplainConfig(),
            acts,
        )
    )
    llm = get_provider(args.llm)
    small = ExplainConfig(sampler=SamplerConfig(n_train=20))
    few = units[: args.llm_units]
    add(
        _row(
            "model-free, same units",
            lm,
            windows,
            few,
            TokenStatsExplainer(),
            KeywordJudge(),
            small,
            acts,
        )
    )
    add(_row("LLM", lm, windows, few, LLMExplainer(llm), KeywordJudge(), small, acts))
    judged = ExplainConfig(
        sampler=SamplerConfig(n_train=20, n_test=10, n_non_activating=10), scorers=["detection"]
    )
    fewer = units[: args.judge_units]
    add(
        _row(
            "model-free, LLM judge",
            lm,
            windows,
            fewer,
            TokenStatsExplainer(),
            LLMJudge(llm),
            judged,
            acts,
        )
    )
    add(_row("LLM, LLM judge", lm, windows, fewer, LLMExplainer(llm), LLMJudge(llm), judged, acts))


if __name__ == "__main__":
    main()
