"""A cross-lingual behaviour rate in float32 and in bfloat16: what the precision changes in it.

    .venv/bin/python benchmarks/run_precision_crossling.py [ALIAS] [--prompts 8] [--coefficient 4]

The same CAPS steering vector (built once in float32, applied to both models) pushes the model
while it answers the held-out instructions of six languages; the rate is the behaviour's metric
(uppercase share of the answer) per language, with and without the push, decoded greedily so
that any difference between the two columns is the precision's, not sampling's. Both dtypes run
in one process, alternating, and the wall time of each is kept. Results go to
results/precision-crossling-ALIAS-cpu.json and the ``precision-crossling`` table of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time

from doc_tables import replace_section, save_result

import babellens
from babellens import steering
from babellens.crossling.behaviours import get_behaviour
from babellens.crossling.rates import RateConfig, Steering, behaviour_rates

LANGS = ["en", "ru", "bg", "de", "es", "fr"]


def _rates(lm, vector, layer: int, coefficient: float, config: RateConfig) -> tuple[float, dict]:
    push = Steering(vector=vector, coefficient=coefficient, layers=(layer,))
    cells = [(lang, None) for lang in LANGS] + [(lang, push) for lang in LANGS]
    start = time.perf_counter()
    found = behaviour_rates(lm, cells, get_behaviour("caps").metric, config)
    seconds = time.perf_counter() - start
    n = len(LANGS)
    return seconds, {
        "base": {r.lang: r.mean for r in found[:n]},
        "steered": {r.lang: r.mean for r in found[n:]},
        "steered_interval": {r.lang: [r.low, r.high] for r in found[n:]},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--coefficient", type=float, default=4.0)
    args = parser.parse_args()
    models = {d: babellens.load(args.model, dtype=d) for d in ("float32", "bfloat16")}
    reference = models["float32"]
    layer = round(0.3 * (reference.adapter.n_layers - 1))
    vector = steering.build(reference, steering.concept_contrast("caps", reference), [layer])
    config = RateConfig(
        prompts=args.prompts, max_new_tokens=args.tokens, temperature=0.0, batch_size=12
    )
    seconds, rates = {}, {}
    for dtype, lm in models.items():
        seconds[dtype], rates[dtype] = _rates(lm, vector, layer, args.coefficient, config)
    diffs = [
        abs(rates["float32"][part][lang] - rates["bfloat16"][part][lang])
        for part in ("base", "steered")
        for lang in LANGS
    ]
    result = {
        "model": args.model,
        "layer": layer,
        "coefficient": args.coefficient,
        "prompts_per_lang": args.prompts,
        "max_new_tokens": args.tokens,
        "rates": rates,
        "seconds": seconds,
        "speedup": seconds["float32"] / seconds["bfloat16"],
        "max_abs_diff_points": max(diffs),
        "mean_abs_diff_points": sum(diffs) / len(diffs),
    }
    _write_doc(save_result(f"precision-crossling-{args.model}-cpu", result))


def _write_doc(r: dict) -> None:
    f32, b16 = r["rates"]["float32"], r["rates"]["bfloat16"]
    rows = [
        f"{r['model']}, {r['hardware']}, {r['date']}: CAPS vector at layer {r['layer']}, "
        f"×{r['coefficient']:g}, {r['prompts_per_lang']} held-out instructions per language, "
        f"{r['max_new_tokens']} greedy tokens.",
        "",
        "| language | base fp32 | base bf16 | steered fp32 | steered bf16 |",
        "|---|---:|---:|---:|---:|",
    ]
    for lang in LANGS:
        rows.append(
            f"| {lang} | {f32['base'][lang]:.1f} | {b16['base'][lang]:.1f} | "
            f"{f32['steered'][lang]:.1f} | {b16['steered'][lang]:.1f} |"
        )
    rows += [
        "",
        f"Largest difference {r['max_abs_diff_points']:.1f} points, mean "
        f"{r['mean_abs_diff_points']:.1f} (rates in % uppercase). Wall time float32 "
        f"{r['seconds']['float32']:.0f} s, bfloat16 {r['seconds']['bfloat16']:.0f} s "
        f"({r['speedup']:.2f}×).",
    ]
    replace_section("precision-crossling", rows)


if __name__ == "__main__":
    main()
