"""Edges against finite differences of the frozen model in float64, and completeness."""

from __future__ import annotations

import pytest
import torch

from babellens.control import LocalControl, StopRequested
from babellens.errors import InvalidInputError
from babellens.graphs.attribution import GraphConfig, attribute
from babellens.graphs.frozen import FrozenReplacement
from babellens.graphs.graph import AttributionGraph
from graphs.fake_transcoders import fake_transcoders
from tiny_models import tiny_inputs, tiny_model


def _setup(family: str, skip: bool = False, n_pos: int = 6):
    lm = tiny_model(family)
    lm.model.double()
    transcoders = fake_transcoders(lm, skip=skip)
    ids = tiny_inputs(1, n_pos, seed=4)[0]
    return lm, transcoders, ids


def _target_value(fr: FrozenReplacement, graph: AttributionGraph, target: int, run) -> float:
    """The target's pre-activation computed by hand from a frozen pass."""
    node = graph.node(target)
    if node.kind == "feature":
        tc = fr.transcoders[node.layer]
        x = run.mlp_in[node.layer][0, node.pos]
        return float(x @ tc.W_enc[:, node.index] + tc.b_enc[node.index])
    w_u = fr.adapter.w_u.detach()
    column = w_u[:, node.index] - w_u.mean(dim=1)
    return float(run.final_hidden[0, -1] @ column)


def _perturbed_run(fr: FrozenReplacement, graph: AttributionGraph, source: int, eps: float):
    node = graph.node(source)
    n_layers, n_pos = fr.n_layers, fr.n_pos
    if node.kind == "feature":
        f = fr.clean.features[node.layer].clone()
        f[node.pos, node.index] *= 1 + eps

        def features(layer, x):
            return (f if layer == node.layer else fr.clean.features[layer]).unsqueeze(0)

        return fr.run(features=features)
    if node.kind == "error":
        scale = torch.ones(n_layers, n_pos, dtype=torch.float64)
        scale[node.layer, node.pos] += eps
        return fr.run(error_scale=scale)
    scale = torch.ones(n_pos, dtype=torch.float64)
    scale[node.pos] += eps
    return fr.run(embed_scale=scale)


@pytest.mark.parametrize(("family", "skip"), [("llama", False), ("gemma3", False), ("llama", True)])
def test_every_edge_is_the_activation_times_the_jacobian_by_finite_differences(
    family: str, skip: bool
) -> None:
    """Scaling a source by (1 + eps) moves a target by eps * edge: edge = a_s * dt/da_s."""
    lm, transcoders, ids = _setup(family, skip)
    graph = attribute(lm, transcoders, ids, GraphConfig(batch_size=7, max_logits=3))
    fr = FrozenReplacement(lm, transcoders, ids)
    gen = torch.Generator().manual_seed(0)
    n_sources = graph.logit_start
    targets = list(range(graph.n_features)) + list(range(graph.logit_start, graph.n_nodes))
    picked_targets = [targets[i] for i in torch.randperm(len(targets), generator=gen)[:12]]
    picked_targets += list(range(graph.logit_start, graph.n_nodes))
    eps = 1e-4
    checked_nonzero = 0
    for source in [*torch.randperm(n_sources, generator=gen)[:10].tolist(), graph.token_start]:
        up, down = _perturbed_run(fr, graph, source, eps), _perturbed_run(fr, graph, source, -eps)
        for target in picked_targets:
            expected = (
                _target_value(fr, graph, target, up) - _target_value(fr, graph, target, down)
            ) / (2 * eps)
            got = float(graph.adjacency[target, source])
            assert got == pytest.approx(expected, abs=1e-5, rel=1e-4)
            checked_nonzero += abs(expected) > 1e-3
    assert checked_nonzero > 10


@pytest.mark.parametrize(("family", "cap"), [("llama", None), ("gemma3", None), ("llama", 10)])
def test_incoming_edges_plus_bias_sum_to_the_pre_activation(family: str, cap: int | None) -> None:
    """Also with a feature cap: the dropped features' output is then in the error nodes."""
    lm, transcoders, ids = _setup(family)
    graph = attribute(lm, transcoders, ids, GraphConfig(batch_size=16, max_feature_nodes=cap))
    assert cap is None or graph.n_features == cap
    fr = FrozenReplacement(lm, transcoders, ids)
    # the bias: the frozen model with every source (token, feature, error) switched off
    zero = fr.run(
        features=lambda layer, x: torch.zeros_like(fr.clean.features[layer]).unsqueeze(0),
        embed_scale=torch.zeros(fr.n_pos, dtype=torch.float64),
        error_scale=torch.zeros(fr.n_layers, fr.n_pos, dtype=torch.float64),
    )
    clean = fr.run()
    targets = list(range(graph.n_features)) + list(range(graph.logit_start, graph.n_nodes))
    for target in targets:
        bias = _target_value(fr, graph, target, zero)
        value = _target_value(fr, graph, target, clean)
        incoming = float(graph.adjacency[target].double().sum())
        assert incoming + bias == pytest.approx(value, abs=1e-4)
        row = graph.target_row(target)
        offset = 0.0 if target < graph.n_features else _logit_offset(fr, graph, target)
        assert float(graph.pre_activations[row]) == pytest.approx(value + offset, abs=1e-6)


def _logit_offset(fr: FrozenReplacement, graph: AttributionGraph, target: int) -> float:
    b_u = fr.adapter.b_u
    if b_u is None:
        return 0.0
    token = graph.node(target).index
    return float(b_u[token] - b_u.mean())


def test_nodes_are_the_active_features_and_the_likely_logits() -> None:
    lm, transcoders, ids = _setup("llama")
    config = GraphConfig(logit_probability=0.5, max_logits=10)
    graph = attribute(lm, transcoders, ids, config)
    fr = FrozenReplacement(lm, transcoders, ids)
    assert graph.n_features == sum(int((f != 0).sum()) for f in fr.clean.features)
    probs = torch.softmax(fr.clean.logits[-1], -1).sort(descending=True)
    k = graph.n_logits
    assert graph.logit_tokens.tolist() == probs.indices[:k].tolist()
    assert float(probs.values[: k - 1].sum()) < 0.5 <= float(probs.values[:k].sum()) or k == 10
    # sources only reach later targets: no edge into a token, an error, or from the future
    assert graph.adjacency[graph.error_start : graph.logit_start].abs().sum() == 0
    for target in range(graph.n_features):
        t = graph.node(target)
        for source in graph.adjacency[target].nonzero().flatten().tolist():
            s = graph.node(source)
            assert s.pos <= t.pos and s.layer < t.layer


def test_a_graph_that_will_not_fit_is_refused_before_it_starts() -> None:
    lm, transcoders, ids = _setup("llama")
    with pytest.raises(InvalidInputError, match="GiB allowed: use a shorter prompt"):
        attribute(lm, transcoders, ids, GraphConfig(memory_limit_gb=1e-6))


def test_a_stopped_graph_resumes_to_the_uninterrupted_result() -> None:
    lm, transcoders, ids = _setup("llama")
    config = GraphConfig(batch_size=5)
    whole = attribute(lm, transcoders, ids, config)

    calls = {"n": 0, "limit": 3}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > calls["limit"]

    control = LocalControl(stop=stop)
    with pytest.raises(StopRequested):
        attribute(lm, transcoders, ids, config, control=control)
    checkpoint = control.load_state()
    assert checkpoint is not None and checkpoint.done == 15
    calls["limit"] = 10**9
    resumed = attribute(lm, transcoders, ids, config, control=control)
    assert torch.equal(resumed.adjacency, whole.adjacency)


@pytest.mark.parametrize("limit", [1 << 25, 0])
def test_feature_edges_equal_the_gathered_dot_product(monkeypatch, limit) -> None:
    """Both forms of the feature-edge step (one product then a gather, or gather then dot)
    equal the plain definition: gradient at the feature's position · its scaled decoder row."""
    from babellens.graphs import attribution

    monkeypatch.setattr(attribution, "_DENSE_EDGE_LIMIT", limit)
    gen = torch.Generator().manual_seed(0)
    grad = torch.randn(5, 7, 16, generator=gen, dtype=torch.float64)
    pos = torch.tensor([0, 3, 3, 6, 1])
    vectors = torch.randn(5, 16, generator=gen, dtype=torch.float64)
    expected = torch.stack(
        [torch.stack([grad[b, pos[f]] @ vectors[f] for f in range(5)]) for b in range(5)]
    )
    got = attribution._feature_edges(grad, pos, vectors)
    assert got.shape == (5, 5)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
