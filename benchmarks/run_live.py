"""Latency of the live activation endpoint; save the JSON result and refresh docs/benchmarks.md.

    .venv/bin/python benchmarks/run_live.py [ALIAS] [--tokens 32] [--requests 40]

p50 and p95 at concurrency 1 and 8 against the bare transformers forward of the same 32-token
prompt, interleaved with the concurrency-1 requests in this process.
"""

from __future__ import annotations

import argparse
import json

from doc_tables import RESULTS, replace_section, save_result

from babellens.bench.live import bench_live


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    result = bench_live(args.model, tokens=args.tokens, requests=args.requests)
    save_result(f"live-{args.model}-cpu", result.model_dump())
    write_doc()


def write_doc() -> None:
    rows = []
    for path in sorted(RESULTS.glob("live-*.json")):
        r = json.loads(path.read_text())
        rows.append(
            f"| {r['model']} | {r['hardware']} | {r['prompt_tokens']} | {r['forward_p50_ms']:.1f} | {r['forward_no_unembed_p50_ms']:.1f} "
            f"| {r['c1_p50_ms']:.1f} / {r['c1_p95_ms']:.1f} | **{r['c1_ratio']:.2f}×** "
            f"| {r['c8_p50_ms']:.0f} / {r['c8_p95_ms']:.0f} | {r['c8_requests_per_s']:.1f} | {r['date']} |"
        )
    table = [
        "| model | hardware | prompt tokens | bare forward p50 ms | no-unembed p50 ms | endpoint c=1 p50 / p95 ms "
        "| c=1 p50 ÷ bare forward | endpoint c=8 p50 / p95 ms | c=8 requests/s | date |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section("live", table)


if __name__ == "__main__":
    main()
