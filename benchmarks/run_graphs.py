"""Attribution graphs: wall time and peak memory against prompt length, beside fwd+bwd.

    .venv/bin/python benchmarks/run_graphs.py [--model smollm2-135m] [--lengths 8,16,32,64]

Random top-k transcoders (never for analysis: they only make the work realistic in shape) on
every layer of a bundled model. Each graph is compared, in the same process, with one forward
and backward pass of the same prompt through the plain model (the least any gradient-based
attribution costs); peak memory is the resident set above what it was before, sampled every
5 ms. Results go to results/graphs.json and the table in docs/graphs.md.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import psutil
import torch
from doc_tables import replace_section, save_result

import babellens
from babellens.graphs import GraphConfig
from babellens.graphs._simple_transcoder import random_transcoders
from babellens.graphs.build import build_graph

DOC = Path(__file__).resolve().parent.parent / "docs" / "graphs.md"
WORDS = (
    "The capital of France is Paris and the capital of Germany is Berlin while Spain has Madrid "
)


class _PeakRss:
    """Highest resident set size seen while the block runs, above the level when it began."""

    def __enter__(self) -> _PeakRss:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


def _prompt(lm, n_tokens: int) -> str:
    ids = lm.tokenize(WORDS * 8)["input_ids"][0][:n_tokens]
    return lm.tokenizer.decode(ids[1:] if ids[0] == lm.tokenizer.bos_token_id else ids)


def _forward_backward(lm, prompt: str) -> tuple[float, float]:
    ids = lm.tokenize(prompt)["input_ids"]
    times = []
    with _PeakRss() as peak:
        for _ in range(3):
            start = time.perf_counter()
            lm.model(input_ids=ids).logits[0, -1].logsumexp(-1).backward()
            times.append(time.perf_counter() - start)
            lm.model.zero_grad(set_to_none=True)
    return sorted(times)[1], peak.mib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--lengths", default="8,16,32,64")
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-feature-nodes", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    lm = babellens.load(args.model)
    a = lm.adapter
    tcs = random_transcoders(a.n_layers, a.d_model, args.width, activation="topk", k=args.k)
    config = GraphConfig(batch_size=args.batch_size, max_feature_nodes=args.max_feature_nodes)
    rows = []
    for n in (int(x) for x in args.lengths.split(",")):
        prompt = _prompt(lm, n)
        base_s, base_mib = _forward_backward(lm, prompt)
        with _PeakRss() as peak:
            start = time.perf_counter()
            built = build_graph(lm, tcs, prompt, config)
            graph_s = time.perf_counter() - start
        row = {
            "tokens": built.graph.n_pos,
            "features": built.graph.n_features,
            "targets": built.graph.n_features + built.graph.n_logits,
            "graph_s": round(graph_s, 2),
            "graph_peak_mib": round(peak.mib, 1),
            "fwd_bwd_s": round(base_s, 4),
            "fwd_bwd_peak_mib": round(base_mib, 1),
            "time_ratio": round(graph_s / base_s, 1),
            "replacement_score": round(built.scores.replacement, 4),
        }
        rows.append(row)
        print(row, flush=True)
    record = save_result(
        "graphs",
        {
            "model": args.model,
            "transcoders": f"random top-{args.k}, width {args.width}, every layer",
            "max_feature_nodes": args.max_feature_nodes,
            "batch_size": args.batch_size,
            "rows": rows,
        },
    )
    table = [
        f"{record['model']}, {record['transcoders']}, at most {args.max_feature_nodes} feature "
        f"nodes, {args.batch_size} targets per backward; {record['hardware']}, {record['date']}.",
        "",
        "| tokens | active features | targets | graph (s) | graph peak (MiB) "
        "| fwd+bwd (s) | fwd+bwd peak (MiB) | graph / fwd+bwd |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(
            f"| {r['tokens']} | {r['features']} | {r['targets']} | {r['graph_s']} "
            f"| {r['graph_peak_mib']} | {r['fwd_bwd_s']} | {r['fwd_bwd_peak_mib']} "
            f"| {r['time_ratio']}x |"
        )
    replace_section("graphs-bench", table, doc=DOC)


if __name__ == "__main__":
    main()
