"""A safety run's JSON as the Markdown of docs/safety.md: every table headed by the run's model,
dtype, languages, items, layers and multipliers, so the docs are copied from the JSON they cite
and a table cannot carry another run's label.

    python benchmarks/safety_tables.py benchmarks/results/safety-smollm2-135m-hallucination.json
    python benchmarks/safety_tables.py RUN.json --control RUN-control.json  # a rebuilt control
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

MINUS = "\N{MINUS SIGN}"


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}".replace("-", MINUS)


def _cell(rate: dict, ab: bool) -> str:
    """Refusal rates to the whole point, A/B probabilities to a tenth (their intervals are ±5)."""
    digits = 1 if ab else 0
    return f"{_num(rate['mean'], digits)} [{rate['low']:.0f}, {rate['high']:.0f}]"


def run_label(data: dict) -> str:
    """One line that names everything a reader needs to match a table to its run."""
    conditions = ", ".join(data["transfer"])
    return (
        f"{data['model']}, {data['concept']}, {data['dtype']}; {len(data['langs'])} languages "
        f"({', '.join(data['langs'])}); {data['train_pairs']} training pairs and "
        f"{data['test_items']} test items per language; layers {data['layers'][0]}–"
        f"{data['layers'][-1]} swept, layer {data['layer']} chosen; conditions {conditions}"
    )


def table_label(data: dict) -> str:
    """The short label under which each table of the run stands."""
    return (
        f"{data['model']}, {data['dtype']}, {len(data['langs'])} languages, "
        f"{data['test_items']} test items per cell, layer {data['layer']}"
    )


def sweep_line(data: dict) -> str:
    """The held-out separation per layer, best layer in bold."""
    parts = [
        f"**{layer}: {_num(d, 2)}**" if int(layer) == data["layer"] else f"{layer}: {_num(d, 2)}"
        for layer, d in data["separation"].items()
    ]
    return "Layer sweep (held-out Cohen's d, mean over languages): " + ", ".join(parts)


def base_table(data: dict) -> str:
    ab = data["kind"] == "ab"
    if ab:
        lines = ["| lang | P(matching answer) %, unsteered |", "|---|---|"]
        lines += [f"| {b['lang']} | {_cell(b['rate'], ab)} |" for b in data["base"]]
        return "\n".join(lines)
    lines = [
        "| lang | harmful refused % | harmless refused % | answers in the prompt's language % |",
        "|---|---|---|---|",
    ]
    for b in data["base"]:
        share = "–" if b["in_language"] is None else f"{b['in_language']:.0f}"
        lines.append(
            f"| {b['lang']} | {_cell(b['rate'], ab)} | {_cell(b['harmless'], ab)} | {share} |"
        )
    return "\n".join(lines)


def _head(langs: list[str], corner: str) -> list[str]:
    return [f"| {corner} | " + " | ".join(langs) + " |", "|---|" + "---|" * len(langs)]


def transfer_table(data: dict, condition: str) -> str:
    """Rows: the direction's language; columns: the prompt's; then random (and unsteered, A/B)."""
    ab, langs = data["kind"] == "ab", data["langs"]
    lines = _head(langs, "direction \\ eval")
    for lang, row in zip(langs, data["transfer"][condition], strict=True):
        lines.append(f"| {lang} | " + " | ".join(_cell(c, ab) for c in row) + " |")
    random = " | ".join(_cell(c, ab) for c in data["random"][condition])
    lines.append(f"| random (norm-matched, own language) | {random} |")
    if ab:
        lines.append(
            "| unsteered | " + " | ".join(_cell(b["rate"], ab) for b in data["base"]) + " |"
        )
    return "\n".join(lines)


def shift_line(data: dict, condition: str) -> str:
    """How far steering moves each cell from its column's unsteered rate, direction and random."""
    base = [b["rate"]["mean"] for b in data["base"]]
    steered = [c for row in data["transfer"][condition] for c in row]
    shifts = [c["mean"] - base[j % len(base)] for j, c in enumerate(steered)]
    random = [c["mean"] - b for c, b in zip(data["random"][condition], base, strict=True)]
    outside = sum(not c["low"] <= base[j % len(base)] <= c["high"] for j, c in enumerate(steered))
    return (
        f"{condition}: cells move {_num(min(shifts), 1)} to {_num(max(shifts), 1)} points from "
        f"their column's unsteered rate (random {_num(min(random), 1)} to {_num(max(random), 1)}); "
        f"{outside} of {len(steered)} intervals exclude the unsteered rate"
    )


def cosine_table(data: dict, control: dict | None = None) -> str:
    """Upper triangle of the cosine at the chosen layer, the shuffled-label control in brackets."""
    layer, langs = str(data["layer"]), data["langs"]
    cos, ctl = data["cosine"][layer], (control or data)["control"][layer]
    lines = _head(langs, "")
    for i, lang in enumerate(langs):
        cells = [
            "" if j < i else "1" if j == i else f"{_num(cos[i][j], 2)} ({_num(ctl[i][j], 2)})"
            for j in range(len(langs))
        ]
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    pairs = [(cos[i][j], ctl[i][j]) for i in range(len(langs)) for j in range(i + 1, len(langs))]
    mean = sum(p[0] for p in pairs) / len(pairs)
    mean_ctl = sum(p[1] for p in pairs) / len(pairs)
    lines.append(
        f"\nMean off-diagonal cosine {_num(mean, 2)} ({_num(min(p[0] for p in pairs), 2)} to "
        f"{_num(max(p[0] for p in pairs), 2)}) against {_num(mean_ctl, 2)} for the control "
        f"({_num(min(p[1] for p in pairs), 2)} to {_num(max(p[1] for p in pairs), 2)})"
    )
    return "\n".join(lines)


def _span(values: list[float], digits: int = 3) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"


def cost_lines(data: dict) -> list[str]:
    """KL on neutral text beside the random control, the directions' norms, language shares."""
    lines = [
        f"KL on neutral text, {condition}: {_span(values)} nats "
        f"(random {_span(data['kl_random'][condition])})"
        for condition, values in data["kl"].items()
    ]
    norms = list(data["norms"].values())
    lines.append(f"Directions' norms at layer {data['layer']}: {_span(norms, 1)}")
    for condition, share in data.get("in_language", {}).items():
        diag = ", ".join(f"{e} {share[i][i]:.0f}" for i, e in enumerate(data["langs"]))
        every = [v for row in share for v in row if v is not None]
        lines.append(
            f"Answers in the prompt's language under {condition}, own-language direction: {diag}; "
            f"any direction {_span(every, 0)}%"
        )
    return lines


def markdown(data: dict, control: dict | None = None) -> str:
    """Every table of one run, each under the run's label."""
    label = table_label(data)
    parts = [f"Run: {run_label(data)}", sweep_line(data)]
    parts += [f"**Base rates** ({label})", base_table(data)]
    for condition in data["transfer"]:
        if condition == "x0":  # multiplier 0 is the unsteered rate, printed in every A/B table
            continue
        parts += [f"**Transfer, {condition}** ({label})", transfer_table(data, condition)]
        if data["kind"] == "ab":
            parts.append(shift_line(data, condition))
    parts += [f"**Cosine at layer {data['layer']}** ({label})", cosine_table(data, control)]
    parts += cost_lines(data)
    timing = data.get("seconds", {}) | data.get("benchmark", {})
    parts.append("Time: " + json.dumps(timing))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path, help="A run's JSON from benchmarks/run_safety.py")
    parser.add_argument("--control", type=Path, help="A rebuilt control (safety_control.py)")
    args = parser.parse_args()
    data = json.loads(args.run.read_text(encoding="utf-8"))
    control = json.loads(args.control.read_text(encoding="utf-8")) if args.control else None
    print(markdown(data, control))


if __name__ == "__main__":
    main()
