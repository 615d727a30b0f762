"""Run ``bench precision`` on a bundled model; save the JSON result and refresh docs/benchmarks.md.

    .venv/bin/python benchmarks/run_precision.py [ALIAS] [--tokens 32768]

Loads the model twice, in float32 and in bfloat16; everything is one process, interleaved
batch by batch, so the ratios hold on a busy machine even where the absolute rates do not.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from doc_tables import replace_section, save_result

import babellens
from babellens.bench.precision import bench_precision

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=32768)
    args = parser.parse_args()
    start = time.perf_counter()
    fp32 = babellens.load(args.model, dtype="float32")
    bf16 = babellens.load(args.model, dtype="bfloat16")
    result = bench_precision(fp32, bf16, tokens=args.tokens).model_dump()
    result["wall_s"] = round(time.perf_counter() - start, 1)
    save_result(f"precision-{args.model}-cpu", result)
    write_doc()


def _ratio(ratios: dict, key: str) -> str:
    return f"{ratios[key]:.2f}×" if key in ratios else "–"


def write_doc() -> None:
    speed, agreement = [], []
    for path in sorted(RESULTS.glob("precision-*-cpu.json")):
        r = json.loads(path.read_text())
        if "tokens_per_s" not in r:  # precision-crossling / precision-training write their own
            continue
        rate, ratio = r["tokens_per_s"], r["ratios"]
        speed.append(
            f"| {r['model']} | {r['hardware']} | {r['tokens']:,} "
            f"| {rate['float32.forward_no_unembed']:.0f} / {rate['bfloat16.forward_no_unembed']:.0f} "
            f"| {rate['float32.scan']:.0f} / {rate['bfloat16.scan']:.0f} "
            f"| **{ratio['bfloat16.scan / float32.scan']:.2f}×** "
            f"| **{ratio['bfloat16.scan / bfloat16.forward_no_unembed']:.2f}×** "
            f"| {_ratio(ratio, 'bfloat16.scan_tensor_ops / bfloat16.forward_no_unembed')} "
            f"| {ratio['float32.scan / float32.forward_no_unembed']:.2f}× "
            f"| {ratio['bfloat16.forward_no_unembed / float32.forward_no_unembed']:.2f}× "
            f"| {ratio['bfloat16.capture_mlp_post_max / bfloat16.forward_no_unembed']:.2f}× "
            f"| {r['date']} |"
        )
        s, n = r["scan"], r["next_token"]
        rho = list(n["spearman_per_layer"].values())
        top = list(n["top20_overlap_per_layer"].values())
        agreement.append(
            f"| {r['model']} | {s['windows']:,} windows, k = {s['k']} "
            f"| **{s['topk_overlap_mean']:.3f}** (min {s['topk_overlap_min']:.2f}; chance {s['chance_overlap']:.3f}) "
            f"| {s['topk_identical_fraction']:.1%} | {s['max_relative_change_median']:.2g} "
            f"| {s['density_abs_change_mean']:.2g} "
            f"| **{min(rho):.4f}–{max(rho):.4f}** (layers {n['layers'][0]}–{n['layers'][-1]}) "
            f"| **{min(top):.2f}–{max(top):.2f}** (chance {n['top20_chance_overlap']:.3f}) "
            f"| {n['same_top_word_fraction']:.1%} |"
        )
    replace_section(
        "precision-speed",
        [
            "| model | hardware | tokens | forward tok/s fp32 / bf16 | scan tok/s fp32 / bf16 "
            "| bf16 scan ÷ fp32 scan | bf16 scan ÷ bf16 forward "
            "| same, tensor-op statistics | fp32 scan ÷ fp32 forward "
            "| bf16 forward ÷ fp32 forward | bf16 capture ÷ bf16 forward | date |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            *speed,
        ],
    )
    replace_section(
        "precision-agreement",
        [
            "| model | corpus slice | top-k window overlap, fp32 vs bf16 scan | neurons with identical "
            "top-k sets | median relative change of a neuron's max | mean density change "
            "| next-token ranking Spearman per layer | top-20 overlap per layer | same top word |",
            "|---|---|---|---|---|---|---|---|---|",
            *agreement,
        ],
    )


if __name__ == "__main__":
    main()
