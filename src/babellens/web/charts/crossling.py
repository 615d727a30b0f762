"""A cross-lingual report's charts: transfer, rates, concept-vector cosines, steering, lens."""

from __future__ import annotations

from babellens.crossling.report import ExperimentReport
from babellens.crossling.similarity import ConceptSimilarity
from babellens.web.charts._common import ACCENT, GREY, PALETTE, span
from babellens.web.schemas import Chart, ChartSeries


def crossling_charts(report: ExperimentReport) -> list[Chart]:
    charts = [_transfer(report), _rates(report)]
    if report.similarity is not None:
        charts += _similarity(report.similarity)
    if report.steering:
        charts.append(_steering(report))
    if report.logit_lens:
        charts.append(_lens(report))
    return charts


def _transfer(report: ExperimentReport) -> Chart:
    langs: list[float | str] = list(report.config.eval_langs)
    trains = [t for t in report.config.train_langs if t in report.transfer]
    series = [
        ChartSeries(
            name=f"trained {t}", x=langs, y=[report.transfer[t].get(str(lang)) for lang in langs]
        )
        for t in trains
    ]
    return Chart(
        id="transfer-chart",
        kind="heatmap",
        title="Transfer (percentage points over base)",
        summary=(
            f"Fine-tuned in {', '.join(trains) or 'no language'} and evaluated in "
            f"{len(langs)} languages, the rate rises {span([v for s in series for v in s.y])} "
            "percentage points over the base model."
        ),
        x_label="evaluated in",
        y_label="trained in",
        series=series,
    )


def _rates(report: ExperimentReport) -> Chart:
    langs = list(report.config.eval_langs)
    series = []
    for i, c in enumerate(report.conditions):
        rates = [c.rates.get(lang) for lang in langs]
        series.append(
            ChartSeries(
                name=c.condition,
                x=list(langs),
                y=[r.mean if r else None for r in rates],
                low=[r.low if r else None for r in rates],
                high=[r.high if r else None for r in rates],
                color=GREY if i == 0 else PALETTE[(i - 1) % len(PALETTE)],
            )
        )
    return Chart(
        id="rates-chart",
        kind="bar",
        title="Rates with 95% intervals",
        summary=(
            f"The {report.config.behaviour} rate per language under {len(series)} conditions "
            f"goes {span([v for s in series for v in s.y], '%')}."
        ),
        x_label="language",
        y_label=f"% {report.config.behaviour}",
        series=series,
    )


def _heatmap_frames(
    sim: ConceptSimilarity, matrices: dict[int, list[list[float]]]
) -> list[ChartSeries]:
    langs: list[float | str] = list(sim.langs)
    return [
        ChartSeries(name=row, x=langs, y=list(matrices[layer][i]), frame=str(layer))
        for layer in sim.layers
        for i, row in enumerate(sim.langs)
    ]


def _off_diagonal(matrix: list[list[float]]) -> float:
    n = len(matrix)
    total = sum(matrix[i][j] for i in range(n) for j in range(n) if i != j)
    return total / max(n * (n - 1), 1)


def _similarity(sim: ConceptSimilarity) -> list[Chart]:
    x: list[float | str] = [float(layer) for layer in sim.layers]
    mean = [_off_diagonal(sim.cosine[layer]) for layer in sim.layers]
    control = [_off_diagonal(sim.control[layer]) for layer in sim.layers]
    where = f"{len(sim.langs)} languages at {len(sim.layers)} layers (the slider picks one)"
    return [
        Chart(
            id="sim-chart",
            kind="heatmap",
            title=f"Cosine of the {sim.concept} vectors",
            summary=f"Cosine similarity of the {sim.concept} vectors between {where}.",
            x_label="language",
            y_label="language",
            series=_heatmap_frames(sim, sim.cosine),
        ),
        Chart(
            id="control-chart",
            kind="heatmap",
            title="Cosine of the shuffled-label control vectors",
            summary=f"The same cosines for vectors built from shuffled labels, {where}.",
            x_label="language",
            y_label="language",
            series=_heatmap_frames(sim, sim.control),
        ),
        Chart(
            id="sim-layers-chart",
            kind="line",
            title="Mean cosine across languages per layer",
            summary=(
                f"The mean cosine between different languages' vectors goes {span(mean)} over "
                f"the layers; the shuffled-label control {span(control)}."
            ),
            x_label="layer",
            y_label="cosine",
            series=[
                ChartSeries(name="mean cosine across languages", x=x, y=mean, color=ACCENT),
                ChartSeries(name="shuffled-label control", x=x, y=control, color=GREY, dash=True),
            ],
        ),
    ]


def _steering(report: ExperimentReport) -> Chart:
    colour = {lang: PALETTE[i % len(PALETTE)] for i, lang in enumerate(report.config.eval_langs)}
    series = [
        ChartSeries(
            name=f"{c.lang}, {c.vector_lang} vector",
            x=list(c.coefficients),
            y=[r.mean for r in c.rates],
            color=colour.get(c.lang, GREY),
            dash=c.vector_lang != c.lang,
        )
        for c in report.steering
    ]
    return Chart(
        id="steer-chart",
        kind="line",
        title=f"Steering the base model, layer {report.steering[0].layer}",
        summary=(
            f"Adding a language's {report.config.behaviour} vector gives rates "
            f"{span([v for s in series for v in s.y], '%')} over {len(series)} curves."
        ),
        x_label="coefficient",
        y_label=f"% {report.config.behaviour}",
        series=series,
    )


def _lens(report: ExperimentReport) -> Chart:
    series = []
    for i, lens in enumerate(report.logit_lens):
        x: list[float | str] = [float(entry.layer) for entry in lens.layers]
        name = f"{lens.source}→{lens.target}"
        colour = PALETTE[i % len(PALETTE)]
        series += [
            ChartSeries(
                name=f"{name}: answer", x=x, y=[e.p_target for e in lens.layers], color=colour
            ),
            ChartSeries(
                name=f"{name}: English word",
                x=x,
                y=[e.p_english for e in lens.layers],
                color=colour,
                dash=True,
            ),
        ]
    return Chart(
        id="lens-chart",
        kind="line",
        title="Logit lens per layer",
        summary=(
            f"Per layer, the probability of the right answer and of its English equivalent for "
            f"{len(report.logit_lens)} language pairs goes {span([v for s in series for v in s.y])}."
        ),
        x_label="layer",
        y_label="probability",
        series=series,
    )
