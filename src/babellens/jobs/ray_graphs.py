"""Many prompts' attribution graphs built on Ray actors, one prompt per item.

Each actor loads the model (float32: exact edges) and receives the transcoder set once; a prompt's
graph comes back as its report's JSON (floats written shortest-exact, so the driver reads back the
very numbers the actor computed) and the overlay is computed on the driver as it is locally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.graphs.attribution import GraphConfig
from babellens.graphs.build import build_graph
from babellens.graphs.compare import CompareReport, compare_prompts, compare_reports
from babellens.graphs.report import GraphReport
from babellens.graphs.transcoders import TranscoderSet
from babellens.jobs.ray_fanout import FanOutPool, RayOptions

__all__ = ["ray_compare_graphs", "ray_graph_reports"]


@dataclass(frozen=True)
class _GraphTask:
    transcoders: TranscoderSet
    config: dict[str, Any]

    def bind(self, lm: LanguageModel) -> Callable[[str], bytes]:
        config = GraphConfig(**self.config)
        transcoders = {layer: tc.to(lm.device) for layer, tc in self.transcoders.items()}

        def graph(prompt: str) -> bytes:
            return build_graph(lm, transcoders, prompt, config).report.model_dump_json().encode()

        return graph


def ray_graph_reports(
    pool: FanOutPool, prompts: list[str], phase: str = "graphs"
) -> list[GraphReport]:
    """The graph report of every prompt, in order, from the pool's actors."""
    results = pool.map(prompts, phase=phase, unit="prompts")
    return [GraphReport.model_validate_json(data) for data in results]


def ray_compare_graphs(
    model: str,
    transcoders: TranscoderSet,
    options: RayOptions,
    prompts: dict[str, str] | None = None,
    control_prompts: list[str] | None = None,
    config: GraphConfig | None = None,
    control: RunControl | None = None,
) -> CompareReport:
    """:func:`~babellens.graphs.compare.compare_graphs`, its graphs built on Ray actors."""
    prompts, control_prompts = compare_prompts(prompts, control_prompts)
    everything = [*prompts.values(), *control_prompts]
    task = _GraphTask(
        {layer: tc.cpu() for layer, tc in transcoders.items()},
        (config or GraphConfig()).model_dump(),
    )
    with FanOutPool(
        model, task, options, dtype="float32", control=control, actors=len(everything)
    ) as pool:
        n_layers = int(pool.start()["n_layers"])
        reports = ray_graph_reports(pool, everything)
    return compare_reports(prompts, control_prompts, reports, n_layers)
