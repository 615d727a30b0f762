"""LoRA step and dose-response curve of a cross-lingual run, against their plain versions; save
the JSON result and refresh docs/benchmarks.md.

.venv/bin/python benchmarks/run_crossling.py [ALIAS] [--rounds 3] [--prompts 8] [--new-tokens 32]
"""

from __future__ import annotations

import argparse
import json

from doc_tables import RESULTS, replace_section, save_result

import babellens
from babellens.bench.crossling import bench_crossling


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="gemma3-270m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    args = parser.parse_args()
    result = bench_crossling(
        babellens.load(args.model),
        rounds=args.rounds,
        prompts=args.prompts,
        new_tokens=args.new_tokens,
    )
    save_result(f"crossling-{args.model}-cpu", result.model_dump())
    write_doc()


def write_doc() -> None:
    rows = []
    for path in sorted(RESULTS.glob("crossling-*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| {r['model']} | {r['hardware']} | {r['lora_full_loss_s'] / r['lora_rounds']:.2f} "
            f"| {r['lora_completion_loss_s'] / r['lora_rounds']:.2f} | **{r['lora_ratio']:.2f}×** "
            f"| {r['curve_points']}×{r['curve_prompts']}×{r['curve_new_tokens']} | {r['curve_separate_s']:.1f} "
            f"| {r['curve_shared_s']:.1f} | **{r['curve_ratio']:.2f}×** | {r['date']} |"
        )
    table = [
        "| model | hardware | LoRA step, all logits s | completion logits s | ratio "
        "| curve (points × prompts × tokens) | one generation per point s | shared batches s | ratio | date |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section("crossling", table)


if __name__ == "__main__":
    main()
