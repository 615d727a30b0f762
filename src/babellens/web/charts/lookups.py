"""A context look-up report's charts: explanation scores per group, ablation drops by activity
(absolute, and relative to P(token) before the ablation, which says whether a drop is small
because the head does little or because the token was improbable to begin with)."""

from __future__ import annotations

from babellens.lookups.report import LookupsReport
from babellens.web.charts._common import ACCENT, BLUE, GREY, span
from babellens.web.schemas import Chart, ChartSeries


def _box(name: str, values: list[float], color: str) -> ChartSeries:
    return ChartSeries(name=name, x=[float(i) for i in range(len(values))], y=values, color=color)


def _drops_chart(
    chart_id: str, title: str, drops: dict[bool, list[float]], lead: str, y_label: str
) -> Chart:
    """Per-prompt drops where the head is active versus not, one box each."""
    return Chart(
        id=chart_id,
        kind="box",
        title=title,
        summary=(
            f"{lead} {span(drops[True])} on {len(drops[True])} prompts where it is active and "
            f"{span(drops[False])} on {len(drops[False])} where not."
        ),
        x_label="prompt",
        y_label=y_label,
        series=[
            _box("head active", drops[True], ACCENT),
            _box("head inactive", drops[False], BLUE),
        ],
    )


def lookups_charts(report: LookupsReport) -> list[Chart]:
    scores: dict[str, list[float]] = {"next_token": [], "random": []}
    drops: dict[bool, list[float]] = {True: [], False: []}
    relative: dict[bool, list[float]] = {True: [], False: []}
    for n in report.neurons:
        for h in n.heads:
            if h.score is not None:
                scores.setdefault(n.group, []).append(h.score)
            if n.group == "next_token":
                for e in h.examples:
                    if e.ablation_drop is not None:
                        drops[bool(e.active)].append(e.ablation_drop)
                    if e.ablation_drop is not None and e.relative_drop is not None:
                        relative[bool(e.active)].append(e.relative_drop)
    return [
        Chart(
            id="lookups-scores",
            kind="box",
            title="Score per (neuron, head) pair",
            summary=(
                f"{len(scores['next_token'])} scores for next-token neurons "
                f"({span(scores['next_token'])}) and {len(scores['random'])} for random neurons "
                f"({span(scores['random'])}); 0.5 is chance."
            ),
            x_label="pair",
            y_label="balanced accuracy",
            series=[
                _box("next-token neurons", scores["next_token"], ACCENT),
                _box("random neurons", scores["random"], GREY),
            ],
        ),
        _drops_chart(
            "lookups-drops",
            "Ablation drop per prompt (next-token neurons)",
            drops,
            "Zeroing a head drops P(token)",
            "drop in P(token)",
        ),
        _drops_chart(
            "lookups-relative-drops",
            "Relative ablation drop per prompt (next-token neurons)",
            relative,
            "As a share of P(token) before the ablation, zeroing a head drops it",
            "drop / P(token) before",
        ),
    ]
