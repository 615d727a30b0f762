"""The default safety experiment on a bundled model, timed: where the wall time goes (directions,
transfer rows, costs), and A/B scoring throughput against one plain forward pass per item.

    python benchmarks/run_safety.py smollm2-135m --concept refusal --out docs/results/safety-smollm2-refusal.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def ab_throughput(lm, items: int = 32) -> dict[str, float]:
    """Items per second: the batched A/B scorer against one plain HF forward pass per item."""
    from babellens.safety import ab_prompt, load_concept, matching_probabilities

    questions = load_concept("sycophancy", "en").split("test")[:items]
    started = time.perf_counter()
    matching_probabilities(lm, questions, batch_size=16)
    batched = time.perf_counter() - started
    started = time.perf_counter()
    with torch.inference_mode():
        for item in questions:
            ids = lm.tokenizer(ab_prompt(lm.tokenizer, item), return_tensors="pt")["input_ids"]
            lm.model(input_ids=ids.to(lm.device))
    plain = time.perf_counter() - started
    return {
        "items": items,
        "scorer_items_per_s": items / batched,
        "plain_forward_items_per_s": items / plain,
        "ratio": plain / batched,
    }


def main() -> None:
    import babellens
    from babellens.control import LocalControl
    from babellens.safety import SafetyParams, run_safety

    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--concept", default="refusal")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--params", default="{}", help="JSON overrides of SafetyParams")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    lm = babellens.load(args.model)
    load_s = time.perf_counter() - started

    def show(done: int, total: int, unit: str, message: str) -> None:
        print(f"{time.perf_counter() - started:7.1f}s {message} {done}/{total} {unit}", flush=True)

    params = SafetyParams(concept=args.concept, **json.loads(args.params))
    report = run_safety(lm, params, LocalControl(on_progress=show))
    total = time.perf_counter() - started
    data = report.model_dump(mode="json")
    data["benchmark"] = {"load_s": load_s, "total_s": total, "threads": torch.get_num_threads()}
    if report.kind == "ab":
        data["benchmark"]["ab_throughput"] = ab_throughput(lm)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"done in {total:.0f}s -> {args.out}")


if __name__ == "__main__":
    main()
