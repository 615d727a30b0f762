"""Neurons beside dictionary features: the model-free explainer and judge on the MLP neurons of one
smollm2-135m layer and on the features of a stored transcoder member reading that layer's MLP
input, over the same corpus windows with the same sampler. Writes results/autointerp_features.json.

    PYTHONPATH=src python benchmarks/run_autointerp_features.py --db sqlite:////tmp/featexplain.db \
        [--dictionary 1] [--layer 15] [--units 300] [--tokens 12288]

The database is only read (the dictionary's row; its weights are files under BABELLENS_HOME).
"""

from __future__ import annotations

import argparse
import time

from doc_tables import save_result
from run_autointerp import _row, stored_member

from babellens.autointerp import (
    ExplainConfig,
    KeywordJudge,
    TokenStatsExplainer,
    UnitRef,
    collect_feature_activations,
    collect_neuron_activations,
    feature_unit,
)
from babellens.autointerp.units import dictionary_source
from babellens.capture.language_model import load
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--db", required=True, help="The database holding the dictionary")
    parser.add_argument("--dictionary", type=int, default=1)
    parser.add_argument("--layer", type=int, default=15, help="The layer the member reads")
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=12_288)
    args = parser.parse_args()
    info, member, sd = stored_member(args.db, args.dictionary, args.layer)
    hook_in = info.members[member][0]
    layer = args.layer
    lm = load(args.model)
    windows = make_windows(load_corpus(), lm.tokenizer, window_len=64, max_tokens=args.tokens)
    header = {
        "model": args.model,
        "layer": layer,
        "dictionary": {
            "id": info.id,
            "member": member,
            "hook_in": hook_in,
            "kind": info.kind,
            "width": info.width,
            "k": info.k,
            "tokens_trained": info.tokens_trained,
        },
        "corpus_tokens": sum(w.n_tokens for w in windows),
    }
    rows: list[dict] = []
    tools = (TokenStatsExplainer(), KeywordJudge(), ExplainConfig())

    def add(row: dict) -> None:  # saved after every row: a long run keeps what it finished
        rows.append(row)
        save_result("autointerp_features", {**header, "rows": rows})

    start = time.perf_counter()
    neurons = collect_neuron_activations(lm, windows, [layer])
    header["neuron_forward_seconds"] = round(time.perf_counter() - start, 1)
    units = [UnitRef(layer=layer, index=i) for i in range(args.units)]
    add(_row("neurons", lm, windows, units, *tools, neurons))
    start = time.perf_counter()
    source = dictionary_source(info.id)
    features = collect_feature_activations(lm, sd, windows, source=source, member=member)
    header["feature_forward_seconds"] = round(time.perf_counter() - start, 1)
    units = [feature_unit(info.id, member, i) for i in range(args.units)]
    add(_row("transcoder features", lm, windows, units, *tools, {member: features}))


if __name__ == "__main__":
    main()
