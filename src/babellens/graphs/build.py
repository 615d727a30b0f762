"""From a prompt to a stored graph: tokenise, attribute, prune, score, lay out as a report."""

from __future__ import annotations

from dataclasses import dataclass

from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.errors import InvalidInputError
from babellens.graphs.attribution import GraphConfig, attribute
from babellens.graphs.graph import AttributionGraph
from babellens.graphs.neuronpedia import graph_report
from babellens.graphs.pruning import GraphScores, PrunedGraph, graph_scores, prune
from babellens.graphs.report import GraphReport
from babellens.graphs.transcoders import TranscoderSet

__all__ = ["BuiltGraph", "build_graph", "max_prompt_tokens"]

max_prompt_tokens = 256
"""Longer prompts are refused before anything runs (the memory estimate refuses sooner)."""


@dataclass
class BuiltGraph:
    graph: AttributionGraph
    pruned: PrunedGraph
    scores: GraphScores
    pruned_scores: GraphScores
    report: GraphReport


def build_graph(
    lm: LanguageModel,
    transcoders: TranscoderSet,
    prompt: str,
    config: GraphConfig | None = None,
    *,
    transcoders_id: str = "",
    control: RunControl | None = None,
) -> BuiltGraph:
    config = config or GraphConfig()
    ids = lm.tokenize(prompt)["input_ids"][0]
    if ids.numel() > max_prompt_tokens:
        raise InvalidInputError(
            f"the prompt has {ids.numel()} tokens; graphs take at most {max_prompt_tokens}"
        )
    graph = attribute(lm, transcoders, ids, config, control=control)
    pruned = prune(graph, config.node_threshold, config.edge_threshold)
    scores = graph_scores(graph)
    kept = graph.adjacency * pruned.edge_mask
    pruned_scores = graph_scores(graph, kept)
    tokens = lm.token_strings(ids.tolist())
    report = graph_report(
        graph,
        pruned,
        scores,
        prompt=prompt,
        tokens=tokens,
        vocab=lambda i: lm.token_strings([i])[0],
        scan=lm.name,
        transcoders=transcoders_id,
        settings=config.model_dump(),
    )
    report.metadata.scores |= {
        "pruned_replacement": pruned_scores.replacement,
        "pruned_completeness": pruned_scores.completeness,
    }
    return BuiltGraph(graph, pruned, scores, pruned_scores, report)
