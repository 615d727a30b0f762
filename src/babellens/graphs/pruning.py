"""Pruning by influence on the logits, and the graph's replacement and completeness scores.

Influence is what flows back from the logits (weighted by their probabilities) through the
graph with every node's incoming edges normalised to absolute fractions: ``w Â + w Â² + ...``
(finite: the graph is acyclic). A node's influence is the share of the output it carries through
any path. Pruning keeps the fewest feature and error nodes whose influence reaches the node
threshold of the total, then the fewest edges whose score (its share times its target's
influence) reaches the edge threshold; tokens and logits are always kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from babellens.graphs.graph import AttributionGraph

__all__ = ["GraphScores", "PrunedGraph", "graph_scores", "influence", "normalise", "prune"]


def normalise(adjacency: torch.Tensor) -> torch.Tensor:
    """Each row as fractions of its absolute incoming weight (a row of zeros stays zeros)."""
    magnitude = adjacency.abs().double()
    return magnitude / magnitude.sum(dim=1, keepdim=True).clamp_min(1e-30)


def influence(normalised: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``w Â + w Â² + ...``: every node's total share of what ``weights`` puts on the targets."""
    current = weights.double() @ normalised
    total = current.clone()
    for _ in range(normalised.shape[0]):
        if not bool(current.any()):
            break
        current = current @ normalised
        total += current
    return total


def _logit_weights(graph: AttributionGraph) -> torch.Tensor:
    weights = torch.zeros(graph.n_nodes, dtype=torch.float64)
    weights[graph.logit_start :] = graph.logit_probabilities.double()
    return weights


def _smallest_set_reaching(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mask of the fewest entries (largest first) whose sum reaches ``fraction`` of the total."""
    flat = scores.flatten()
    order = flat.argsort(descending=True)
    cumulative = flat[order].cumsum(0)
    total = float(cumulative[-1]) if cumulative.numel() else 0.0
    keep = torch.zeros_like(flat, dtype=torch.bool)
    if total <= 0:
        return keep.reshape(scores.shape)
    count = int((cumulative < fraction * total * (1 - 1e-12)).sum()) + 1
    keep[order[: min(count, flat.numel())]] = True
    return keep.reshape(scores.shape)


@dataclass
class PrunedGraph:
    node_mask: torch.Tensor  # [N] bool
    edge_mask: torch.Tensor  # [N, N] bool
    node_influence: torch.Tensor  # [N] in the full graph


def prune(
    graph: AttributionGraph, node_threshold: float = 0.8, edge_threshold: float = 0.98
) -> PrunedGraph:
    """Nodes carrying ``node_threshold`` of the influence, then edges carrying ``edge_threshold``."""
    weights = _logit_weights(graph)
    node_influence = influence(normalise(graph.adjacency), weights)
    candidates = torch.zeros(graph.n_nodes, dtype=torch.bool)
    candidates[: graph.token_start] = True  # features and errors compete; tokens and logits stay
    scores = torch.where(candidates, node_influence, torch.zeros_like(node_influence))
    node_mask = _smallest_set_reaching(scores, node_threshold) | ~candidates
    kept = graph.adjacency * node_mask.unsqueeze(0) * node_mask.unsqueeze(1)
    shares = normalise(kept)
    edge_scores = shares * (influence(shares, weights) + weights).unsqueeze(1)
    edge_mask = _smallest_set_reaching(edge_scores, edge_threshold) & (kept != 0)
    connected = edge_mask.any(0) | edge_mask.any(1)
    node_mask = node_mask & (connected | ~candidates)
    return PrunedGraph(
        node_mask, edge_mask & node_mask.unsqueeze(0) & node_mask.unsqueeze(1), node_influence
    )


@dataclass(frozen=True)
class GraphScores:
    """``replacement``: the share of the output's influence that ends in tokens rather than in
    error nodes. ``completeness``: the share of incoming edge weight, weighted by each node's
    influence, that comes from non-error nodes. Both are 1 for a perfect replacement."""

    replacement: float
    completeness: float


def graph_scores(graph: AttributionGraph, adjacency: torch.Tensor | None = None) -> GraphScores:
    """Scores of ``graph`` (or of a pruned copy of its adjacency)."""
    matrix = graph.adjacency if adjacency is None else adjacency
    weights = _logit_weights(graph)
    shares = normalise(matrix)
    node_influence = influence(shares, weights)
    token = float(node_influence[graph.token_start : graph.logit_start].sum())
    error = float(node_influence[graph.error_start : graph.token_start].sum())
    replacement = token / (token + error) if token + error > 0 else 0.0
    has_inputs = matrix.abs().sum(1) > 0
    from_errors = shares[:, graph.error_start : graph.token_start].sum(1)
    output = (node_influence + weights) * has_inputs
    completeness = float(((1 - from_errors) * output).sum() / output.sum().clamp_min(1e-30))
    return GraphScores(replacement=replacement, completeness=completeness)
