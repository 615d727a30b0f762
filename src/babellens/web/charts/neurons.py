"""The model page's per-layer chart and the activation histogram of a neuron or feature."""

from __future__ import annotations

from collections.abc import Sequence

from babellens.store.results import Histogram
from babellens.web.charts._common import ACCENT, BLUE, short, span
from babellens.web.schemas import Chart, ChartSeries, LayerStats


def layer_chart(layers: Sequence[LayerStats]) -> Chart:
    x: list[float | str] = [float(s.layer) for s in layers]
    means = [s.mean_max for s in layers]
    density = [s.mean_density for s in layers]
    return Chart(
        id="layer-chart",
        kind="line",
        title="Mean max activation and density per layer",
        summary=(
            f"Over {len(layers)} layers the mean max activation goes {span(means)} and the "
            f"mean density {span([100 * d for d in density], '%')}."
        ),
        x_label="layer",
        y_label="mean max activation",
        y2_label="density",
        series=[
            ChartSeries(name="mean max activation", x=x, y=list(means), color=ACCENT),
            ChartSeries(name="mean density", x=x, y=list(density), axis="y2", color=BLUE),
        ],
    )


def histogram_chart(histogram: Histogram, unit: str = "neuron") -> Chart:
    """Bins without tokens at either end are left out: they only squeeze the bars that matter.

    Bin 0 holds everything below ``edges[0]``, bin ``i`` starts at ``edges[i - 1]``.
    """
    counts = histogram.counts
    labels = [
        f"<{short(histogram.edges[0])}" if i == 0 else short(histogram.edges[i - 1])
        for i in range(len(counts))
    ]
    used = [i for i, c in enumerate(counts) if c > 0]
    lo, hi = (used[0], used[-1] + 1) if used else (0, len(counts))
    kept = [float(c) for c in counts[lo:hi]]
    peak = labels[lo + kept.index(max(kept))] if kept else "–"
    return Chart(
        id="histogram",
        kind="bar",
        title=f"Activation histogram of the {unit}",
        summary=(
            f"{int(sum(kept)):,} tokens in {len(kept)} activation bins from {labels[lo]} to "
            f"{labels[hi - 1]}; the fullest bin starts at {peak}."
        ),
        x_label="activation (bin start)",
        y_label="tokens",
        series=[ChartSeries(name="tokens", x=list(labels[lo:hi]), y=kept)],
    )
