"""Steered vs plain generation; save the JSON result and refresh docs/benchmarks.md.

.venv/bin/python benchmarks/run_steering.py [ALIAS] [--new-tokens 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json

from doc_tables import RESULTS, replace_section, save_result

import babellens
from babellens.bench.steering import bench_steering


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = bench_steering(
        babellens.load(args.model), new_tokens=args.new_tokens, rounds=args.rounds
    )
    save_result(f"steering-{args.model}-cpu", result.model_dump())
    write_doc()


def write_doc() -> None:
    rows = []
    for path in sorted(RESULTS.glob("steering-*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| {r['model']} | {r['hardware']} | {r['batch']}×{r['new_tokens']} | {r['plain_s']:.2f} "
            f"| {r['steered_all_s']:.2f} | **{r['ratio_all']:.3f}×** | {r['steered_generated_s']:.2f} "
            f"| **{r['ratio_generated']:.3f}×** | {r['date']} |"
        )
    table = [
        "| model | hardware | prompts × new tokens | plain generate s | steered (all positions) s | ratio "
        "| steered (generated positions) s | ratio | date |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section("steering", table)


if __name__ == "__main__":
    main()
