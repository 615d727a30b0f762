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


class FileControl:
    """A run control that keeps its checkpoint in a file, so a killed benchmark resumes."""

    def __init__(self, path: Path, on_progress) -> None:
        from babellens.control import LocalControl

        self.path, self.inner = path, LocalControl(on_progress=on_progress)
        if path.is_file():
            self.inner._blob, self.inner._done = path.read_bytes(), 0

    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None:
        self.inner.progress(done, total, unit, message)

    def should_stop(self) -> bool:
        return False

    def save_state(self, tensors, meta, done: int) -> None:
        self.inner.save_state(tensors, meta, done)
        assert self.inner._blob is not None
        self.path.write_bytes(self.inner._blob)

    def load_state(self):
        return self.inner.load_state()


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


def _cell(rate: dict) -> str:
    return f"{rate['mean']:.0f} [{rate['low']:.0f}, {rate['high']:.0f}]"


def markdown(data: dict) -> str:
    """The report's tables as Markdown (for docs/safety.md)."""
    langs, layer = data["langs"], str(data["layer"])
    head = "| | " + " | ".join(langs) + " |\n|---|" + "---|" * len(langs) + "\n"
    lines = [
        f"layer {data['layer']} (swept {data['layers'][0]}..{data['layers'][-1]}), "
        f"{data['train_pairs']} training pairs, {data['test_items']} test items per cell\n"
    ]
    if data["kind"] == "instructions":
        lines.append(
            "| lang | harmful refused % | harmless refused % | in language % |\n|---|---|---|---|"
        )
        for b in data["base"]:
            share = "–" if b["in_language"] is None else f"{b['in_language']:.0f}"
            lines.append(f"| {b['lang']} | {_cell(b['rate'])} | {_cell(b['harmless'])} | {share} |")
    else:
        lines.append("| lang | P(matching) % |\n|---|---|")
        lines += [f"| {b['lang']} | {_cell(b['rate'])} |" for b in data["base"]]
    lines.append(f"\ncosine at layer {layer} (shuffled-label control)\n")
    rows = [
        f"| {a} | "
        + " | ".join(
            f"{data['cosine'][layer][i][j]:.2f} ({data['control'][layer][i][j]:.2f})"
            for j in range(len(langs))
        )
        + " |"
        for i, a in enumerate(langs)
    ]
    lines.append(head + "\n".join(rows))
    for condition, matrix in data["transfer"].items():
        lines.append(f"\n{condition} (rows: direction language; columns: prompt language)\n")
        body = [
            f"| {d} | " + " | ".join(_cell(c) for c in row) + " |"
            for d, row in zip(langs, matrix, strict=True)
        ]
        body.append("| random | " + " | ".join(_cell(c) for c in data["random"][condition]) + " |")
        lines.append(head + "\n".join(body))
        if condition in data.get("in_language", {}):
            share = data["in_language"][condition]
            diag = ", ".join(
                f"{e} {share[i][i]:.0f}%" if share[i][i] is not None else f"{e} –"
                for i, e in enumerate(langs)
            )
            lines.append(f"\nanswers in the prompt's language (own-language direction): {diag}")
    for condition, values in data["kl"].items():
        pairs = ", ".join(
            f"{lang} {v:.3f} (random {r:.3f})"
            for lang, v, r in zip(langs, values, data["kl_random"][condition], strict=True)
        )
        lines.append(f"\nKL on neutral text, {condition}: {pairs}")
    return "\n".join(lines) + "\n"


def main() -> None:
    import babellens
    from babellens.safety import SafetyParams, run_safety

    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--concept", default="refusal")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dtype", default="auto", help="auto (as the safety job), float32, ...")
    parser.add_argument("--params", default="{}", help="JSON overrides of SafetyParams")
    parser.add_argument(
        "--markdown", action="store_true", help="Print an existing --out as Markdown"
    )
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.out.read_text(encoding="utf-8"))))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    lm = babellens.load(args.model, dtype=args.dtype)
    load_s = time.perf_counter() - started

    def show(done: int, total: int, unit: str, message: str) -> None:
        print(f"{time.perf_counter() - started:7.1f}s {message} {done}/{total} {unit}", flush=True)

    params = SafetyParams(concept=args.concept, **json.loads(args.params))
    control = FileControl(args.out.with_suffix(".ckpt"), show)
    report = run_safety(lm, params, control)
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
