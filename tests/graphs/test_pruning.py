from __future__ import annotations

import pytest
import torch

from babellens.graphs.attribution import GraphConfig, attribute
from babellens.graphs.graph import AttributionGraph
from babellens.graphs.pruning import graph_scores, influence, normalise, prune
from graphs.fake_transcoders import fake_transcoders
from tiny_models import tiny_inputs, tiny_model


def _hand_graph() -> AttributionGraph:
    """Two features at layer 0/1, one position... laid out by hand (1 layer, 1 position).

    Nodes: f0 (feature), e0 (error), t0 (token), l0 (logit). f0 <- t0 (3), f0 <- e0 (-1);
    l0 <- f0 (2), l0 <- e0 (2), l0 <- t0 (-4).
    """
    adjacency = torch.zeros(4, 4)
    adjacency[0, 2], adjacency[0, 1] = 3.0, -1.0
    adjacency[3, 0], adjacency[3, 1], adjacency[3, 2] = 2.0, 2.0, -4.0
    return AttributionGraph(
        input_ids=torch.tensor([5]),
        n_layers=1,
        features=torch.tensor([[0, 0, 7]]),
        activations=torch.tensor([1.0]),
        logit_tokens=torch.tensor([9]),
        logit_probabilities=torch.tensor([1.0]),
        adjacency=adjacency,
        pre_activations=torch.zeros(2),
    )


def test_influence_and_scores_by_hand() -> None:
    graph = _hand_graph()
    node_influence = influence(normalise(graph.adjacency), torch.tensor([0, 0, 0, 1.0]))
    # l0's shares: f0 0.25, e0 0.25, t0 0.5; f0's shares: t0 0.75, e0 0.25
    assert node_influence.tolist() == pytest.approx([0.25, 0.25 + 0.0625, 0.5 + 0.1875, 0])
    scores = graph_scores(graph)
    assert scores.replacement == pytest.approx(0.6875 / (0.6875 + 0.3125))
    # completeness: f0 (influence 0.25) gets 0.75 from non-errors, l0 (weight 1) gets 0.75
    assert scores.completeness == pytest.approx((0.75 * 0.25 + 0.75 * 1) / 1.25)


@pytest.fixture(scope="module")
def tiny_graph() -> AttributionGraph:
    lm = tiny_model("llama")
    return attribute(lm, fake_transcoders(lm, width=24), tiny_inputs(1, 8)[0], GraphConfig())


@pytest.mark.parametrize(("node_threshold", "edge_threshold"), [(0.8, 0.98), (0.5, 0.9)])
def test_pruning_keeps_the_stated_fraction_of_influence(
    tiny_graph: AttributionGraph, node_threshold: float, edge_threshold: float
) -> None:
    graph = tiny_graph
    pruned = prune(graph, node_threshold, edge_threshold)
    candidates = pruned.node_influence[: graph.token_start]
    # the nodes kept by influence (before dropping unconnected ones) are the smallest set reaching
    order = candidates.argsort(descending=True)
    cumulative = candidates[order].cumsum(0) / candidates.sum()
    needed = int((cumulative < node_threshold).sum()) + 1
    kept = pruned.node_mask[: graph.token_start]
    assert int(kept.sum()) <= needed < graph.token_start
    assert set(order[:needed].tolist()) >= set(kept.nonzero().flatten().tolist())
    assert float(cumulative[needed - 1]) >= node_threshold > float(cumulative[needed - 2])
    # tokens and logits are always kept
    assert bool(pruned.node_mask[graph.token_start :].all())
    # kept edges carry at least the edge threshold of the kept nodes' edge score, and are few
    assert 0 < int(pruned.edge_mask.sum()) < int((graph.adjacency != 0).sum())
    assert not bool((pruned.edge_mask & (graph.adjacency == 0)).any())
    # recompute the edge scores over the nodes kept by influence: the kept edges reach the
    # threshold, and without the weakest of them they would not
    by_influence = torch.zeros(graph.n_nodes, dtype=torch.bool)
    by_influence[order[:needed]] = True
    by_influence[graph.token_start :] = True
    inner = graph.adjacency * by_influence.unsqueeze(0) * by_influence.unsqueeze(1)
    shares = normalise(inner)
    weights = torch.zeros(graph.n_nodes, dtype=torch.float64)
    weights[graph.logit_start :] = graph.logit_probabilities.double()
    scores = shares * (influence(shares, weights) + weights).unsqueeze(1)
    kept_scores = scores[pruned.edge_mask]
    fraction = float(kept_scores.sum() / scores.sum())
    assert fraction >= edge_threshold - 1e-9
    assert float((kept_scores.sum() - kept_scores.min()) / scores.sum()) < edge_threshold


def test_pruned_scores_are_fractions(tiny_graph: AttributionGraph) -> None:
    full = graph_scores(tiny_graph)
    assert 0 < full.replacement < 1 and 0 < full.completeness < 1
