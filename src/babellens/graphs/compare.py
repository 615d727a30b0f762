"""The cross-lingual overlay: which features do the graphs of one fact in many languages share?

Per layer, each graph's feature influence is summed over positions per feature; a feature is
shared when it is in every language's pruned graph. The fraction of a layer's influence that
shared features carry (averaged over the languages) stands beside the same fraction for a set
of unrelated prompts, the control: features every graph has whatever the prompt (position
features, frequent-token features) are shared there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from pydantic import BaseModel, Field

from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from babellens.graphs.attribution import GraphConfig
from babellens.graphs.build import build_graph
from babellens.graphs.report import GraphReport
from babellens.graphs.transcoders import TranscoderSet
from babellens.report import Report

__all__ = [
    "CAPITAL_OF_FRANCE",
    "CONTROL_PROMPTS",
    "CompareReport",
    "LayerOverlap",
    "compare_graphs",
    "compare_prompts",
    "compare_reports",
    "shared_influence",
]

CAPITAL_OF_FRANCE = {
    "en": "The capital of France is",
    "ru": "Столица Франции —",
    "bg": "Столицата на Франция е",
    "de": "Die Hauptstadt von Frankreich ist",
    "es": "La capital de Francia es",
    "fr": "La capitale de la France est",
    "zh": "法国的首都是",
}
CONTROL_PROMPTS = [
    "My favourite colour is",
    "The train leaves the station at",
    "Water boils at a temperature of",
    "She opened the window and saw",
    "The recipe needs two cups of",
    "In the morning he usually drinks",
    "The best way to learn a language is",
]


class LayerOverlap(BaseModel):
    layer: int
    shared_fraction: float = Field(description="influence share of features in every language")
    control_fraction: float = Field(description="the same for the unrelated control prompts")
    shared_features: int
    control_shared_features: int


class CompareReport(Report):
    report_kind: ClassVar[str] = "graph_compare"
    report_version: ClassVar[int] = 1

    prompts: dict[str, str]
    control_prompts: list[str]
    layers: list[LayerOverlap]
    replacement_scores: dict[str, float]


def _layer_influence(report: GraphReport) -> dict[int, dict[int, float]]:
    per_layer: dict[int, dict[int, float]] = {}
    for node in report.nodes:
        if node.feature_type != "cross layer transcoder" or node.feature is None:
            continue
        layer = per_layer.setdefault(int(node.layer), {})
        layer[node.feature] = layer.get(node.feature, 0.0) + (node.influence or 0.0)
    return per_layer


def shared_influence(reports: list[GraphReport], n_layers: int) -> list[tuple[float, int]]:
    """Per layer: (mean share of influence carried by features in all graphs, how many)."""
    tables = [_layer_influence(r) for r in reports]
    result = []
    for layer in range(n_layers):
        sets = [set(t.get(layer, {})) for t in tables]
        common = set.intersection(*sets) if sets else set()
        shares = []
        for table in tables:
            row = table.get(layer, {})
            total = sum(row.values())
            shares.append(sum(row[f] for f in common) / total if total > 0 else 0.0)
        result.append((sum(shares) / len(shares) if shares else 0.0, len(common)))
    return result


def compare_prompts(
    prompts: dict[str, str] | None = None, control_prompts: list[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The parallel and control prompts a comparison uses (the defaults where not given)."""
    prompts = prompts or CAPITAL_OF_FRANCE
    control_prompts = control_prompts or CONTROL_PROMPTS[: len(prompts)]
    if len(prompts) < 2 or len(control_prompts) < 2:
        raise InvalidInputError(
            "compare needs at least two parallel prompts and two control prompts"
        )
    return dict(prompts), list(control_prompts)


def compare_graphs(
    lm: LanguageModel,
    transcoders: TranscoderSet,
    prompts: dict[str, str] | None = None,
    control_prompts: list[str] | None = None,
    config: GraphConfig | None = None,
    on_graph: Callable[[int, int], None] | None = None,
) -> CompareReport:
    prompts, control_prompts = compare_prompts(prompts, control_prompts)
    everything = [*prompts.values(), *control_prompts]
    reports = []
    for i, prompt in enumerate(everything):
        reports.append(build_graph(lm, transcoders, prompt, config).report)
        if on_graph is not None:
            on_graph(i + 1, len(everything))
    return compare_reports(prompts, control_prompts, reports, lm.adapter.n_layers)


def compare_reports(
    prompts: dict[str, str],
    control_prompts: list[str],
    reports: list[GraphReport],
    n_layers: int,
) -> CompareReport:
    """The overlay from the graphs of ``prompts`` then ``control_prompts``, wherever they were
    built (here, or on Ray actors)."""
    n = len(prompts)
    parallel = shared_influence(reports[:n], n_layers)
    control = shared_influence(reports[n:], n_layers)
    layers = [
        LayerOverlap(
            layer=layer,
            shared_fraction=p[0],
            control_fraction=c[0],
            shared_features=p[1],
            control_shared_features=c[1],
        )
        for layer, (p, c) in enumerate(zip(parallel, control, strict=True))
    ]
    scores = {
        lang: reports[i].metadata.scores.get("replacement", 0.0) for i, lang in enumerate(prompts)
    }
    return CompareReport(
        prompts=dict(prompts),
        control_prompts=list(control_prompts),
        layers=layers,
        replacement_scores=scores,
    )
