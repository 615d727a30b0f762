"""LLM-explainer rows for the MLP neurons and the transcoder features of one smollm2-135m layer,
each beside the model-free explainer on the same units with the same sampler and seed, and an
LLM judge on fewer units. Writes results/autointerp_llm.json after every row.

    PYTHONPATH=src python benchmarks/run_autointerp_llm.py --db sqlite:////tmp/x.db \
        --llm openai:http://127.0.0.1:8765/v1:qwen2.5-coder-0.5b \
        [--neurons 100] [--features 300] [--judge-units 10] [--train-examples 20]

The corpus sample (12,288 tokens in 64-token windows), layer and sampler seed are those of
run_autointerp.py and run_autointerp_features.py, so the rows sit beside theirs. Every LLM answer
is cached under ``--cache``: a killed run resumes without paying twice (its wall times then
count only what was not cached, so time a run with an empty cache).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from doc_tables import save_result
from run_autointerp import _row, stored_member

from babellens.autointerp import (
    ChatProvider,
    ExplainConfig,
    KeywordJudge,
    LLMExplainer,
    LLMJudge,
    SamplerConfig,
    TokenStatsExplainer,
    UnitRef,
    collect_feature_activations,
    collect_neuron_activations,
    feature_unit,
    get_provider,
)
from babellens.autointerp.units import dictionary_source
from babellens.capture.language_model import load
from babellens.control import LocalControl
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows


def llm_provider(
    spec: str, cache: str | None, *, concurrency: int, timeout_s: float
) -> ChatProvider:
    """The explainer's and judge's provider: an ``openai:`` server gets one request at a time
    (llama.cpp's server answers them one by one anyway, and a queue of four would time out under
    load) and a long timeout; every answer is cached on disk when ``cache`` is given."""
    options = {}
    if spec.startswith("openai:"):
        options = {"concurrency": concurrency, "timeout_s": timeout_s}
    return get_provider(spec, cache_dir=cache, **options)


def explainer_configs(
    train_examples: int, judge_scorers: list[str]
) -> tuple[ExplainConfig, ExplainConfig]:
    """The keyword-judged rows' config (the default sampler, ``train_examples`` shown) and the
    LLM judge's: the same with 10 + 10 held-out examples per scorer instead of 50 + 50 (each is
    one request, twice: with the unit's explanation and with the random one)."""
    keyword = ExplainConfig(sampler=SamplerConfig(n_train=train_examples))
    judged = ExplainConfig(
        sampler=SamplerConfig(n_train=train_examples, n_test=10, n_non_activating=10),
        scorers=judge_scorers,
    )
    return keyword, judged


def _printing_control(name: str) -> LocalControl:
    start = time.perf_counter()

    def show(done: int, total: int, unit: str, message: str) -> None:
        print(f"[{name}] {message} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)

    return LocalControl(on_progress=show)


def keyword_rows(
    kind: str, lm, windows, units, acts, llm: ChatProvider, config: ExplainConfig, n_llm: int
) -> Iterator[dict]:
    """The model-free explainer on ``units``, then the LLM explainer on the first ``n_llm`` units
    it scored (beside the model-free explainer on exactly those, when that is fewer), all with the
    keyword judge."""
    floor = _row(
        f"{kind}: model-free",
        lm,
        windows,
        units,
        TokenStatsExplainer(),
        KeywordJudge(),
        config,
        acts,
        keep=len(units),
    )
    yield floor
    few = scored_units(floor, units, n_llm)
    if len(few) < floor["units_scored"]:
        yield _row(
            f"{kind}: model-free, LLM's units",
            lm,
            windows,
            few,
            TokenStatsExplainer(),
            KeywordJudge(),
            config,
            acts,
            keep=len(few),
        )
    yield _row(
        f"{kind}: LLM",
        lm,
        windows,
        few,
        LLMExplainer(llm),
        KeywordJudge(),
        config.model_copy(update={"batch_units": 4}),
        acts,
        keep=len(few),
        control=_printing_control(f"{kind}: LLM"),
    )


def judge_row(
    kind: str, explainer, lm, windows, units, acts, llm: ChatProvider, config: ExplainConfig
) -> dict:
    """One explainer with the LLM judge (one unit per batch, so progress shows every unit)."""
    name = f"{kind}: {'LLM' if isinstance(explainer, LLMExplainer) else 'model-free'}, LLM judge"
    return _row(
        name,
        lm,
        windows,
        units,
        explainer,
        LLMJudge(llm),
        config.model_copy(update={"batch_units": 1}),
        acts,
        keep=len(units),
        control=_printing_control(name),
    )


def scored_units(row: dict, units: list[UnitRef], n: int) -> list[UnitRef]:
    """The first ``n`` of ``units`` that ``row`` scored (a feature that fires too rarely is not)."""
    scored = {e["unit"] for e in row["examples"]}
    return [u for u in units if u.key in scored][:n]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--db", required=True, help="The database holding the dictionary")
    parser.add_argument("--dictionary", type=int, default=1)
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--neurons", type=int, default=100, help="Neurons LAYER/0..N-1")
    parser.add_argument("--features", type=int, default=300, help="Features 0..N-1 asked")
    parser.add_argument("--llm-units", type=int, default=100, help="Per kind: the first N scored")
    parser.add_argument("--judge-units", type=int, default=10, help="Per kind, for the LLM judge")
    parser.add_argument("--judge-scorers", default="detection,fuzzing")
    parser.add_argument("--train-examples", type=int, default=40)
    parser.add_argument("--llm", default="openai:http://127.0.0.1:8765/v1:qwen2.5-coder-0.5b")
    parser.add_argument("--cache", default=str(Path("/tmp/babellens-autointerp-llm-cache")))
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--tokens", type=int, default=12_288)
    parser.add_argument("--out", default="autointerp_llm")
    args = parser.parse_args()
    info, member, sd = stored_member(args.db, args.dictionary, args.layer)
    lm = load(args.model)
    windows = make_windows(load_corpus(), lm.tokenizer, window_len=64, max_tokens=args.tokens)
    llm = llm_provider(args.llm, args.cache, concurrency=args.concurrency, timeout_s=args.timeout)
    configs = explainer_configs(args.train_examples, args.judge_scorers.split(","))
    header = {
        "model": args.model,
        "layer": args.layer,
        "llm": args.llm,
        "corpus_tokens": sum(w.n_tokens for w in windows),
        "dictionary": {
            "id": info.id,
            "member": member,
            "hook_in": sd.hook_in,
            "kind": info.kind,
            "width": info.width,
            "k": info.k,
            "tokens_trained": info.tokens_trained,
        },
        "sampler": configs[0].sampler.model_dump(),
        "judge_sampler": configs[1].sampler.model_dump(),
    }
    rows: list[dict] = []

    def add(row: dict) -> None:  # saved after every row: a long run keeps what it finished
        rows.append(row)
        save_result(args.out, {**header, "rows": rows})

    start = time.perf_counter()
    neurons = collect_neuron_activations(lm, windows, [args.layer])
    header["neuron_forward_seconds"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    source = dictionary_source(info.id)
    features = collect_feature_activations(lm, sd, windows, source=source, member=member)
    header["feature_forward_seconds"] = round(time.perf_counter() - start, 1)
    kinds = {
        "neurons": ([UnitRef(layer=args.layer, index=i) for i in range(args.neurons)], neurons),
        "features": (
            [feature_unit(info.id, member, i) for i in range(args.features)],
            {member: features},
        ),
    }
    keyword, judged = configs
    few: dict[str, list[UnitRef]] = {}
    for kind, (units, acts) in kinds.items():
        for row in keyword_rows(kind, lm, windows, units, acts, llm, keyword, args.llm_units):
            few.setdefault(kind, scored_units(row, units, args.judge_units))
            add(row)
    for explainer in (LLMExplainer(llm), TokenStatsExplainer()):
        for kind, (_, acts) in kinds.items():
            if few[kind]:
                add(judge_row(kind, explainer, lm, windows, few[kind], acts, llm, judged))


if __name__ == "__main__":
    main()
