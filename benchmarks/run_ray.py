"""Scan tokens/s on a local Ray instance with 1 and 2 workers vs the local runner; refresh the docs.

.venv/bin/python benchmarks/run_ray.py [ALIAS] [--tokens 8192]
"""

from __future__ import annotations

import argparse
import json

from doc_tables import RESULTS, replace_section, save_result

from babellens.bench.ray_scan import bench_ray_scan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=8192)
    args = parser.parse_args()
    save_result(f"ray-{args.model}-cpu", bench_ray_scan(args.model, args.tokens).model_dump())
    write_doc()


def write_doc() -> None:
    rows = []
    for path in sorted(RESULTS.glob("ray-*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| {r['model']} | {r['hardware']} | {r['tokens']:,} | {r['local_tokens_per_s']:.0f} "
            f"| {r['ray_1_tokens_per_s']:.0f} ({r['ray_1_ratio']:.2f}×) | {r['ray_2_tokens_per_s']:.0f} ({r['ray_2_ratio']:.2f}×) | {r['date']} |"
        )
    table = [
        "| model | hardware | tokens | local tok/s | Ray, 1 worker × 2 threads | Ray, 2 workers × 1 thread | date |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section("ray", table)


if __name__ == "__main__":
    main()
