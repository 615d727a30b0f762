"""Run ``bench scan`` on a bundled model; save the JSON result and refresh docs/benchmarks.md.

    .venv/bin/python benchmarks/run_scan.py [ALIAS] [--tokens 32768] [--no-rss]

Throughput is a ratio against the HF decoder (no unembedding) on the same batches, interleaved;
memory is the peak RSS of two fresh processes scanning 10k and 100k tokens.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from doc_tables import replace_section, save_result

import babellens
from babellens.bench.scan import bench_scan

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=32768)
    parser.add_argument("--no-rss", action="store_true")
    args = parser.parse_args()
    lm = babellens.load(args.model)
    result = bench_scan(lm, tokens=args.tokens, measure_rss=not args.no_rss)
    save_result(f"scan-{args.model}-cpu", result.model_dump())
    write_doc()


def write_doc() -> None:
    rows = []
    for path in sorted(RESULTS.glob("scan-*.json")):
        r = json.loads(path.read_text())
        rss = r["peak_rss_mb"]
        rows.append(
            f"| {r['model']} | {r['hardware']} | {r['tokens']:,} | {r['forward_no_unembed_tokens_per_s']:.0f} "
            f"| {r['scan_tokens_per_s']:.0f} | **{r['scan_ratio']:.2f}×** "
            f"| {' → '.join(f'{v:.0f}' for v in rss.values())} | **{r['rss_growth']:+.1%}** "
            f"| {r['congruence_layer_s']:.2f} s / {r['plain_matmul_s']:.2f} s = {r['congruence_ratio']:.1f}× | {r['date']} |"
        )
    table = [
        "| model | hardware | tokens | HF no-unembed tok/s | scan tok/s | scan ÷ forward | peak RSS MB, 10k → 100k tokens "
        "| RSS growth | congruence of one layer / one plain matmul | date |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section("scan", table)


if __name__ == "__main__":
    main()
