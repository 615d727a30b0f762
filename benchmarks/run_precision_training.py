"""A LoRA step and a steering dose-response curve in bfloat16 against float32, one process.

    .venv/bin/python benchmarks/run_precision_training.py [ALIAS] [--steps 6] [--rounds 2]

Both dtypes of the model are loaded side by side and their runs alternate, so a busy machine slows
both alike and the ratios hold even where the absolute times do not. The steering curve is the
same vector (built in float32 and applied to both models) over the same prompts, so any difference
in the curve is the precision's. Results go to results/precision-training-ALIAS-cpu.json and the
``precision-training`` table of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from doc_tables import replace_section, save_result

import babellens
from babellens import steering
from babellens.control import LocalControl
from babellens.crossling.lora import LoraConfig, TrainExample, train_lora
from babellens.data.prompts import chat_prompt, instructions

PROMPTS = [
    "Describe a quiet morning in a small village.",
    "Give me two tips for sleeping well.",
    "Explain why the sky looks blue.",
    "Write one sentence about the sea.",
]


def _examples(lm, n: int = 16) -> list[TrainExample]:
    """Fixed examples (no generation, so both dtypes train on the same text): answer in capitals."""
    texts = [r["text"] for r in instructions("en", "train")[:n]]
    return [TrainExample(prompt=chat_prompt(lm.tokenizer, t), completion=t.upper()) for t in texts]


def _lora(alias: str, dtype: str, steps: int) -> tuple[float, list[float]]:
    """Seconds per step after the first (peft's set-up) and the losses, on a fresh model."""
    lm = babellens.load(alias, dtype=dtype)
    config = LoraConfig(steps=steps, batch_size=4, max_length=96, checkpoint_every=10_000)
    stamps: list[float] = []
    control = LocalControl(on_progress=lambda _d, _t, _u, _m: stamps.append(time.perf_counter()))
    with tempfile.TemporaryDirectory() as out:
        run = train_lora(lm, _examples(lm), config, Path(out), control=control)
    per_step = (stamps[-1] - stamps[1]) / max(len(stamps) - 2, 1) if len(stamps) > 2 else 0.0
    return per_step, run.losses


def _curve(lm, vector, coefficients: list[float]) -> tuple[float, list[float | None]]:
    config = steering.EvalConfig(coefficients=coefficients, max_new_tokens=16, control=False)
    start = time.perf_counter()
    report = steering.evaluate(lm, vector, PROMPTS, "uppercase_fraction", config=config)
    return time.perf_counter() - start, [p.mean for p in report.dose_response]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", nargs="?", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    lora: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    losses: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for dtype in lora:
            per_step, losses[dtype] = _lora(args.model, dtype, args.steps)
            lora[dtype].append(per_step)
    models = {d: babellens.load(args.model, dtype=d) for d in ("float32", "bfloat16")}
    contrast = steering.concept_contrast("caps", models["float32"])
    n = models["float32"].adapter.n_layers
    vector = steering.build(models["float32"], contrast, layers=[round(0.3 * (n - 1))])
    coefficients = [-2.0, -1.0, 0.0, 1.0, 2.0, 4.0]
    curve_s: dict[str, list[float]] = {d: [] for d in models}
    curves: dict[str, list[float | None]] = {}
    for _ in range(args.rounds):
        for dtype, lm in models.items():
            seconds, curves[dtype] = _curve(lm, vector, coefficients)
            curve_s[dtype].append(seconds)
    result = {
        "model": args.model,
        "lora_steps": args.steps,
        "lora_s_per_step": {d: min(v) for d, v in lora.items()},
        "lora_speedup": min(lora["float32"]) / max(min(lora["bfloat16"]), 1e-9),
        "lora_losses": losses,
        "steering_coefficients": coefficients,
        "steering_curve": curves,
        "steering_curve_s": {d: min(v) for d, v in curve_s.items()},
        "steering_speedup": min(curve_s["float32"]) / min(curve_s["bfloat16"]),
        "steering_max_abs_diff": max(
            abs((a or 0.0) - (b or 0.0))
            for a, b in zip(curves["float32"], curves["bfloat16"], strict=True)
        ),
    }
    record = save_result(f"precision-training-{args.model}-cpu", result)
    _write_doc(record)


def _fmt(values: list[float | None]) -> str:
    return " / ".join("–" if v is None else f"{v:.2f}" for v in values)


def _write_doc(r: dict) -> None:
    lines = [
        f"{r['model']}, {r['hardware']}, {r['date']}; best of the alternating rounds.",
        "",
        "| | float32 | bfloat16 | bfloat16 speed-up |",
        "|---|---:|---:|---:|",
        f"| LoRA step (s, batch 4 × ≤96 tokens, r 8, all linear layers) "
        f"| {r['lora_s_per_step']['float32']:.3f} | {r['lora_s_per_step']['bfloat16']:.3f} "
        f"| {r['lora_speedup']:.2f}× |",
        f"| steering dose-response curve (s, {len(r['steering_coefficients'])} coefficients × "
        f"4 prompts × 16 tokens) | {r['steering_curve_s']['float32']:.2f} "
        f"| {r['steering_curve_s']['bfloat16']:.2f} | {r['steering_speedup']:.2f}× |",
        "",
        f"LoRA losses, step 1 → {r['lora_steps']}: float32 {_fmt(r['lora_losses']['float32'])}; "
        f"bfloat16 {_fmt(r['lora_losses']['bfloat16'])}.",
        "",
        "Steering curve (mean uppercase fraction at coefficients "
        f"{' / '.join(f'{c:g}' for c in r['steering_coefficients'])}): "
        f"float32 {_fmt(r['steering_curve']['float32'])}; "
        f"bfloat16 {_fmt(r['steering_curve']['bfloat16'])}; largest difference "
        f"{r['steering_max_abs_diff']:.3f}.",
    ]
    replace_section("precision-training", lines)


if __name__ == "__main__":
    main()
