"""The chart builders (babellens.web.charts) against hand computations on small inputs."""

from __future__ import annotations

import math

from babellens.steering.evaluate import DosePoint, SteeringReport
from babellens.steering.vector import VectorInfo
from babellens.store.results import Histogram
from babellens.web.charts import crossling_charts, histogram_chart, layer_chart, steering_charts
from babellens.web.schemas import LayerStats
from crossling_reports import make_report


def test_the_histogram_drops_empty_end_bins_and_labels_bin_starts():
    # bins: <-1, [-1, 0), [0, 0.5), [0.5, 2), >=2
    chart = histogram_chart(Histogram(edges=[-1.0, 0.0, 0.5, 2.0], counts=[0, 3, 0, 7, 0]))
    (series,) = chart.series
    assert series.x == ["-1", "0", "0.5"] and series.y == [3.0, 0.0, 7.0]
    assert "10 tokens in 3 activation bins" in chart.summary and "starts at 0.5" in chart.summary
    first = histogram_chart(Histogram(edges=[0.00123, 1.0], counts=[2, 0, 0]))
    assert first.series[0].x == ["<0.0012"] and first.series[0].y == [2.0]


def test_the_layer_chart_plots_the_layer_statistics_as_they_are():
    stats = [
        LayerStats(layer=i, neurons=8, mean_max=m, mean_density=d, dead=0, has_congruence=False)
        for i, (m, d) in enumerate([(1.5, 0.25), (3.0, 0.125)])
    ]
    chart = layer_chart(stats)
    assert [s.y for s in chart.series] == [[1.5, 3.0], [0.25, 0.125]]
    assert chart.series[1].axis == "y2" and chart.series[0].x == [0.0, 1.0]
    assert "from 1.5 to 3" in chart.summary and "from 12% to 25%" in chart.summary


def _steering_report() -> SteeringReport:
    vector = VectorInfo(
        name="caps",
        model="m",
        method="mean_diff",
        read="last",
        layers=[1, 2],
        d_model=8,
        data="caps",
        n_examples=4,
        norms={1: 1.0, 2: 1.0},
    )
    points = [
        DosePoint(coefficient=c, mean=m, std=s, control_mean=0.1, kl=k, degenerate=g, samples=[])
        for c, m, s, k, g in [
            (-1.0, 0.0, 0.5, 0.2, 0.0),
            (0.0, 0.1, None, 0.0, 0.0),
            (1.0, 0.9, 0.1, 0.3, 0.5),
        ]
    ]
    return SteeringReport(
        vector=vector,
        metric="uppercase_fraction",
        prompts=2,
        dose_response=points,
        layer_sweep={2: 0.4, 1: 0.7, 3: None},
        per_prompt_effects={-1.0: [-0.1, 0.0], 0.0: [0.0, 0.0], 1.0: [0.8, 0.9]},
        mean_diff_cosine=None,
    )


def test_steering_charts_carry_the_error_bars_and_leave_out_coefficient_zero():
    dose, cost, sweep, effects = steering_charts(_steering_report())
    caps, control = dose.series
    assert caps.y == [0.0, 0.1, 0.9] and control.dash and control.y == [0.1, 0.1, 0.1]
    assert caps.low == [-0.5, 0.1, 0.8] and math.isclose(caps.high[2], 1.0)  # mean ± std
    assert [s.kind for s in cost.series] == [None, "bar"] and cost.series[1].y == [0.0, 0.0, 0.5]
    assert sweep.series[0].x == [1.0, 2.0, 3.0] and sweep.series[0].y == [0.7, 0.4, None]
    assert "highest at layer 1" in sweep.summary
    assert [s.name for s in effects.series] == ["coef -1", "coef 1"]
    assert effects.series[1].y == [0.8, 0.9]


def test_crossling_cosines_come_per_layer_and_their_mean_leaves_out_the_diagonal():
    report = make_report("m")
    charts = {c.id: c for c in crossling_charts(report)}
    assert list(charts) == [
        "transfer-chart",
        "rates-chart",
        "sim-chart",
        "control-chart",
        "sim-layers-chart",
        "steer-chart",
        "lens-chart",
    ]
    sim = charts["sim-chart"]
    assert [(s.frame, s.name, s.y) for s in sim.series] == [
        ("0", "en", [1.0, 0.5]),
        ("0", "de", [0.5, 1.0]),
        ("1", "en", [1.0, 0.8]),
        ("1", "de", [0.8, 1.0]),
    ]
    mean, control = charts["sim-layers-chart"].series
    assert mean.y == [0.5, 0.8] and control.y == [0.1, -0.1]  # the off-diagonal cells
    base, tuned = charts["rates-chart"].series
    assert base.y == [3.0, 6.0] and base.color == "#8a94a6"
    assert tuned.y == [80.0, 40.0] and tuned.low == [75.0, 35.0] and tuned.high == [85.0, 45.0]
    (steer,) = charts["steer-chart"].series
    assert steer.name == "de, en vector" and steer.dash and steer.y == [6.0, 70.0]
