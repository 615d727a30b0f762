"""Per-item outputs of a finished safety run, read back from the checkpoint run_safety.py keeps
beside its JSON: the report keeps only rates, and some questions need the items behind them
(how strongly an A/B model prefers one letter; which answers open with a phrase the refusal
lists do not contain).

    python benchmarks/safety_answers.py benchmarks/results/safety-smollm2-135m-hallucination.json
    python benchmarks/safety_answers.py RUN.json --grep "^I'm sorry"   # refusal: matching answers
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def row_labels(data: dict) -> list[str]:
    """The rows' labels in the order the experiment ran them (as safety.cells builds them)."""
    langs, n = data["langs"], data["test_items"]
    labels: list[str] = []
    for e in langs:
        if data["kind"] == "instructions":
            labels += [f"base|harmful|{e}"] * n + [f"base|harmless|{e}"] * n
            for d in [*langs, "random"]:
                labels += [f"ablation|{d}|{e}"] * n + [f"addition|{d}|{e}"] * n
            continue
        labels += [f"base|{e}"] * n
        for condition in (c for c in data["transfer"] if c != "x0"):
            for d in [*langs, "random"]:
                labels += [f"{condition}|{d}|{e}"] * n
    return labels


def read_outputs(run: Path) -> tuple[dict, list[str], list]:
    """The run's JSON, its row labels and the checkpoint's outputs, one per label."""
    from babellens.control import decode_checkpoint

    data = json.loads(run.read_text(encoding="utf-8"))
    _, meta = decode_checkpoint(run.with_suffix(".ckpt").read_bytes())
    outputs = meta["outputs"]
    labels = row_labels(data)
    if len(labels) != len(outputs):
        raise SystemExit(
            f"{len(outputs)} outputs for {len(labels)} rows: not this run's checkpoint"
        )
    return data, labels, outputs


def letter_bias(data: dict, labels: list[str], outputs: list[float]) -> dict[str, dict]:
    """Per language, unsteered: the mean share of the letter mass on A, and how far from a coin."""
    from babellens.safety import load_concept

    out = {}
    for e in data["langs"]:
        items = load_concept(data["concept"], e).split("test")[: data["test_items"]]
        p = [v for x, v in zip(labels, outputs, strict=True) if x == f"base|{e}"]
        share_a = [q if i.matching_letter == "A" else 1 - q for q, i in zip(p, items, strict=True)]
        out[e] = {
            "mean_p_a": sum(share_a) / len(share_a),
            "mean_abs_from_half": sum(abs(q - 0.5) for q in p) / len(p),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="A run's JSON; its .ckpt must lie beside it")
    parser.add_argument("--grep", help="Refusal runs: print the answers matching this regex")
    args = parser.parse_args()
    data, labels, outputs = read_outputs(args.run)
    if data["kind"] == "ab":
        print(json.dumps(letter_bias(data, labels, outputs), indent=1))
        return
    pattern = re.compile(args.grep or ".", re.IGNORECASE)
    counts: dict[str, list[int]] = {}
    for label, answer in zip(labels, outputs, strict=True):
        hit = bool(pattern.search(answer))
        counts.setdefault(label, [0, 0])[0] += hit
        counts[label][1] += 1
        if hit and args.grep:
            print(f"{label}: {answer!r}")
    print(json.dumps({k: f"{h}/{n}" for k, (h, n) in counts.items()}, indent=1))


if __name__ == "__main__":
    main()
