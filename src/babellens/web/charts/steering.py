"""A steering evaluation's four charts: dose-response, cost, layer sweep, per-prompt effects."""

from __future__ import annotations

from babellens.steering.evaluate import SteeringReport
from babellens.web.charts._common import ACCENT, BLUE, GREY, span
from babellens.web.schemas import Chart, ChartSeries


def steering_charts(report: SteeringReport) -> list[Chart]:
    return [_dose(report), _cost(report), _sweep(report), _effects(report)]


def _dose(report: SteeringReport) -> Chart:
    points = report.dose_response
    x: list[float | str] = [p.coefficient for p in points]
    means = [p.mean for p in points]
    low = [None if p.mean is None else p.mean - (p.std or 0.0) for p in points]
    high = [None if p.mean is None else p.mean + (p.std or 0.0) for p in points]
    control = [p.control_mean for p in points]
    return Chart(
        id="dose-chart",
        kind="line",
        title=f"Dose-response of {report.metric}",
        summary=(
            f"{report.metric} of the {report.vector.name} vector goes {span(means)} over "
            f"coefficients {span(x)} (random vector of the same norm: {span(control)})."  # type: ignore[arg-type]
        ),
        x_label="coefficient",
        y_label=report.metric,
        series=[
            ChartSeries(name=report.vector.name, x=x, y=means, low=low, high=high, color=ACCENT),
            ChartSeries(name="random vector, same norm", x=x, y=control, color=GREY, dash=True),
        ],
    )


def _cost(report: SteeringReport) -> Chart:
    points = report.dose_response
    x: list[float | str] = [p.coefficient for p in points]
    kl = [p.kl for p in points]
    degenerate = [p.degenerate for p in points]
    return Chart(
        id="cost-chart",
        kind="line",
        title="Cost on neutral text",
        summary=(
            f"KL on neutral text goes {span(kl)} nats and degenerate outputs "
            f"{span([100 * d for d in degenerate], '%')} over coefficients {span(x)}."  # type: ignore[arg-type]
        ),
        x_label="coefficient",
        y_label="KL (nats)",
        y2_label="degenerate",
        series=[
            ChartSeries(name="KL on neutral text", x=x, y=kl, color=BLUE),
            ChartSeries(
                name="degenerate outputs",
                x=x,
                y=list(degenerate),
                axis="y2",
                kind="bar",
                color="rgba(179,38,30,.35)",
            ),
        ],
    )


def _sweep(report: SteeringReport) -> Chart:
    layers = sorted(report.layer_sweep)
    values = [report.layer_sweep[layer] for layer in layers]
    best = max(
        (layer for layer in layers if report.layer_sweep[layer] is not None),
        key=lambda layer: report.layer_sweep[layer] or 0.0,
        default=None,
    )
    return Chart(
        id="sweep-chart",
        kind="bar",
        title="Layer sweep",
        summary=(
            f"Steering one of {len(layers)} layers alone gives {report.metric} {span(values)}"
            + (f", highest at layer {best}." if best is not None else ".")
        ),
        x_label="layer steered alone",
        y_label=report.metric,
        series=[ChartSeries(name=report.metric, x=[float(v) for v in layers], y=values)],
    )


def _effects(report: SteeringReport) -> Chart:
    series = [
        ChartSeries(
            name=f"coef {c:g}",
            x=[float(i) for i in range(len(values))],
            y=list(values),
            color=ACCENT if c > 0 else BLUE,
        )
        for c, values in sorted(report.per_prompt_effects.items())
        if c != 0
    ]
    every = [v for s in series for v in s.y]
    return Chart(
        id="effects-chart",
        kind="box",
        title="Per-prompt effects",
        summary=(
            f"Per prompt, the change in {report.metric} against coefficient 0 goes {span(every)} "
            f"over {len(series)} coefficients."
        ),
        x_label="prompt",
        y_label="change vs coefficient 0",
        series=series,
    )
