from __future__ import annotations

import pytest
import torch

from babellens.graphs.attribution import GraphConfig, attribute
from babellens.graphs.frozen import FrozenReplacement
from babellens.graphs.heads import split_edge_by_head
from graphs.fake_transcoders import fake_transcoders
from tiny_models import tiny_inputs, tiny_model


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_the_head_split_of_an_edge_across_positions_sums_to_the_edge(family: str) -> None:
    lm = tiny_model(family)
    lm.model.double()
    transcoders = fake_transcoders(lm)
    ids = tiny_inputs(1, 6, seed=2)[0]
    graph = attribute(lm, transcoders, ids, GraphConfig(max_logits=2))
    fr = FrozenReplacement(lm, transcoders, ids)
    crossing = []
    for target in [*range(graph.n_features), *range(graph.logit_start, graph.n_nodes)]:
        t = graph.node(target)
        for source in graph.adjacency[target].nonzero().flatten().tolist():
            if graph.node(source).pos != t.pos:
                crossing.append((source, target))
    gen = torch.Generator().manual_seed(0)
    picked = [crossing[i] for i in torch.randperm(len(crossing), generator=gen)[:8]]
    assert len(picked) == 8
    for source, target in picked:
        split = split_edge_by_head(fr, graph, source, target)
        assert float(split.heads.sum()) == pytest.approx(split.edge, abs=1e-6, rel=1e-6)
        assert split.direct == pytest.approx(0, abs=1e-6 * max(1.0, abs(split.edge)))
        # heads before the source's layer cannot carry it
        assert bool((split.heads[: graph.node(source).layer + 1] == 0).all())
        assert len(split.top(3)) == 3


def test_a_same_position_edge_keeps_its_residual_part() -> None:
    lm = tiny_model("llama")
    lm.model.double()
    transcoders = fake_transcoders(lm)
    ids = tiny_inputs(1, 5, seed=2)[0]
    graph = attribute(lm, transcoders, ids, GraphConfig(max_logits=1))
    fr = FrozenReplacement(lm, transcoders, ids)
    target = graph.logit_start
    source = graph.token_start + graph.n_pos - 1  # the last token, read where the logit is
    split = split_edge_by_head(fr, graph, source, target)
    # direct part by hand: the embedding through the frozen final norm into the logit column
    w_u = lm.adapter.w_u.detach()
    token = graph.node(target).index
    column = w_u[:, token] - w_u.mean(dim=1)
    final = fr._norms[lm.adapter.spec.final_norm]
    u = torch.zeros(1, fr.n_pos, lm.adapter.d_model, dtype=torch.float64)
    u[0, -1] = fr.clean.embed[-1]
    direct = float(final.linear(u)[0, -1] @ column)
    assert split.direct == pytest.approx(direct, abs=1e-6, rel=1e-6)
