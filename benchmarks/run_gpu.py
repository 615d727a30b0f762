"""The benchmarks on a GPU, for model shapes of real checkpoints with random weights.

    python benchmarks/run_gpu.py --configs DIR [--dtype bfloat16] [--out results.json]

Without a CUDA GPU it says so and exits with status 0 (nothing to measure). The scan runs the
GPU strategy: a token budget per batch sized to the device (``device_tokens_per_batch``), the
histogram as one bincount per batch, candidates queued on the device and merged every 4 batches,
no host synchronisation per batch; ``scan_ratio`` is its rate over the no-unembedding forward's.

A GPU machine without the hub or the bundled weights still has every shape that matters: each
folder in ``--configs`` holds a model's ``config.json`` and tokenizer files; weights are random
(seeded), which changes no timing. Every number is a ratio against the plain forward pass in the
same process (see docs/benchmarks.md), so it compares with the CPU tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from babellens.bench.capture import bench_capture
from babellens.bench.scan import bench_scan
from babellens.bench.steering import bench_steering
from babellens.bench.timing import sync_device
from babellens.capture.language_model import LanguageModel


def random_model(folder: Path, dtype: torch.dtype, device: str) -> LanguageModel:
    config = AutoConfig.from_pretrained(folder)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype).to(device)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return LanguageModel(model, tokenizer, name=folder.name, source=f"random weights, {folder}")


def bench_attribution(lm: LanguageModel, prompts: int = 30, seq_len: int = 64) -> dict:
    """Head attribution for one neuron of the last layer over ``prompts`` prompts, vs a forward."""
    from babellens.lookups import head_attributions

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, lm.adapter.vocab_size, (prompts, seq_len), generator=gen).to(lm.device)
    layer = lm.adapter.n_layers - 1
    timings = {}
    for name, fn in {
        "forward": lambda: lm.model.model(input_ids=ids, use_cache=False),
        "head_attributions": lambda: head_attributions(lm, ids, None, layer, 0),
    }.items():
        fn()  # warm-up
        sync_device(lm.device)
        start = time.perf_counter()
        for _ in range(3):
            with torch.inference_mode(name == "forward"):
                fn()
        sync_device(lm.device)
        timings[name] = (time.perf_counter() - start) / 3
    return {
        "prompts": prompts,
        "seq_len": seq_len,
        **timings,
        "ratio": timings["head_attributions"] / timings["forward"],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", type=Path)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("gpu-results.json"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=65536)
    parser.add_argument("--only", default="capture,scan,steering,attribution")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU on this machine: nothing measured (run this where one is)")
        return 0
    if args.configs is None:
        parser.error("--configs DIR is required: folders each holding a config.json and tokenizer")
    dtype = getattr(torch, args.dtype)
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    results = {"device": device_name, "dtype": args.dtype, "torch": torch.__version__, "models": {}}
    for folder in sorted(p for p in args.configs.iterdir() if (p / "config.json").is_file()):
        results["models"][folder.name] = bench_model(random_model(folder, dtype, args.device), args)
        args.out.write_text(json.dumps(results, indent=1))
        if args.device == "cuda":
            torch.cuda.empty_cache()
    return 0


def bench_model(lm: LanguageModel, args: argparse.Namespace) -> dict:
    entry: dict = {"params_m": round(sum(p.numel() for p in lm.model.parameters()) / 1e6, 1)}
    steps = {
        "capture": lambda: bench_capture(
            lm, batch_size=args.batch, seq_len=256, batches=4, rounds=3
        ).model_dump(),
        "scan": lambda: bench_scan(lm, tokens=args.tokens, measure_rss=False).model_dump(),
        "steering": lambda: bench_steering(lm, new_tokens=32, rounds=3).model_dump(),
        "attribution": lambda: bench_attribution(lm),
    }
    for name, run in steps.items():
        if name not in args.only.split(","):
            continue
        start = time.perf_counter()
        try:
            entry[name] = run()
        except Exception as exc:  # one failing part must not lose the others' numbers
            entry[name] = {"error": f"{type(exc).__name__}: {exc}"}
        entry[f"{name}_wall_s"] = round(time.perf_counter() - start, 1)
        print(lm.name, name, json.dumps(entry[name])[:400], flush=True)
    return entry


if __name__ == "__main__":
    raise SystemExit(main())
