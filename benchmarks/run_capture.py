"""Run ``bench capture`` on bundled models; save JSON results and refresh docs/benchmarks.md.

    .venv/bin/python benchmarks/run_capture.py [ALIAS ...] [--device cuda]

Each result is a ratio against the plain transformers forward pass measured in the same process,
on the same batches, interleaved; absolute tokens/s depend on the machine and are shown for scale.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from doc_tables import replace_section, save_result

import babellens
from babellens.bench import bench_capture

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def _device_label(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for alias in args.models:
        lm = babellens.load(alias, device=args.device, dtype=args.dtype)
        result = bench_capture(lm, batches=args.batches, rounds=args.rounds)
        name = f"capture-{alias}-{result.device.split(':')[0]}-{result.dtype}"
        save_result(name, result.model_dump(), hardware=_device_label(args.device))
    write_doc()


def write_doc() -> None:
    rows = []
    for path in sorted(RESULTS.glob("capture-*.json")):
        r = json.loads(path.read_text())
        by = {row["method"]: row for row in r["rows"]}
        cap = by["babellens_capture_mlp_post_max"]
        rows.append(
            f"| {r['model']} | {r['hardware']} | {r['dtype']} | {r['batch_size']}×{r['seq_len']} "
            f"| {by['hf_forward_with_logits']['tokens_per_s']:.0f} | {by['hf_forward_no_unembed']['tokens_per_s']:.0f} "
            f"| {cap['tokens_per_s']:.0f} | **{cap['ratio_to_no_unembed']:.2f}×** | **{cap['ratio_to_logits']:.2f}×** "
            f"| {r['date']} |"
        )
    table = [
        "| model | hardware | dtype | batch | HF + logits tok/s | HF no unembed tok/s | capture tok/s "
        "| capture ÷ no-unembed | capture ÷ with-logits | date |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section("capture", table)


if __name__ == "__main__":
    main()
