"""How much of a bfloat16 scan is the per-layer update, and whether its second thread helps.

    .venv/bin/python benchmarks/profile_scan_update.py [ALIAS] [--tokens 10240] [--one-thread]
    GOMP_SPINCOUNT=0 .venv/bin/python benchmarks/profile_scan_update.py   # workers stop spinning

Times, interleaved batch by batch in one process (first batch a warm-up): the decoder without
the unembedding, the same forward with a do-nothing hook on every ``mlp_post``, and the scan,
with the time spent inside the compiled update summed separately. ``--one-thread`` runs the
update on the calling thread only. PyTorch's OpenMP workers keep spinning on the other cores
after each operator, so a second update thread there competes with a spinning worker; comparing
the default, ``--one-thread`` and ``GOMP_SPINCOUNT=0`` shows how much that costs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import torch

import babellens
from babellens.analyses.neuron_scan import accumulator, fused_stats
from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.bench.scan import repeated_windows
from babellens.data.windows import WindowBatch


def _timed_update(spent: dict[str, float]) -> Callable:
    """``fold_and_insert`` that adds its own wall time to ``spent["update"]``."""
    original = fused_stats.fold_and_insert

    def timed(*args: object) -> object:
        start = time.perf_counter()
        result = original(*args)
        spent["update"] += time.perf_counter() - start
        return result

    return timed


def _one_thread(kernel: Callable, d_mlp: int, *inputs: object, outputs: tuple) -> None:
    kernel(*inputs, 0, d_mlp, *outputs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=10240)
    parser.add_argument("--one-thread", action="store_true")
    parser.add_argument("--runner", choices=["team", "threads"], default="team")
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    if args.one_thread:
        args.runner = "threads"
        fused_stats._split_over_threads = _one_thread
    fused_stats._RUNNER = args.runner
    lm = babellens.load(args.model, dtype=args.dtype)
    config = ScanConfig()
    scan = NeuronScan(lm, repeated_windows(lm, args.tokens, config.window_len), config)
    spent = {"update": 0.0}
    accumulator.fold_and_insert = _timed_update(spent)
    points = [f"mlp_post.{layer}" for layer in range(lm.adapter.n_layers)]

    def forward(batch: WindowBatch) -> None:
        with torch.inference_mode():
            lm.adapter.decoder(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                use_cache=False,
            )

    def hooked(batch: WindowBatch) -> None:
        enc = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        lm.run(enc, capture=points, reduce=lambda acts, mask: None)

    methods = {"forward": forward, "forward_noop_hooks": hooked, "scan": scan.step}
    totals = dict.fromkeys(methods, 0.0)
    calls = 0
    for i, batch in enumerate(scan.batches()):
        for name, method in methods.items():
            start = time.perf_counter()
            method(batch)
            if i > 0:
                totals[name] += time.perf_counter() - start
        if i == 0:
            spent["update"] = 0.0  # the warm-up batch's update (numba's compile) is not counted
        else:
            calls += len(points)
    print(
        json.dumps(
            {
                "model": args.model,
                "tokens": args.tokens,
                "dtype": args.dtype,
                "runner": fused_stats.update_runner(),
                "update_threads": 1 if args.one_thread else min(torch.get_num_threads(), 8),
                "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
                "forward_over": {k: round(totals["forward"] / v, 3) for k, v in totals.items()},
                "update_ms_per_layer_call": round(1000 * spent["update"] / max(calls, 1), 2),
                "update_share_of_scan": round(spent["update"] / totals["scan"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
