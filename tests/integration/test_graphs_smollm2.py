"""A graph on the bundled smollm2-135m with random transcoders: exactness at full scale."""

from __future__ import annotations

import pytest
import torch

import babellens
from babellens.graphs import FrozenReplacement, GraphConfig, attribute
from babellens.graphs._simple_transcoder import random_transcoders

pytestmark = pytest.mark.integration


def test_smollm2_replacement_is_exact_and_edges_sum_to_pre_activations() -> None:
    lm = babellens.load("smollm2-135m")
    a = lm.adapter
    tcs = random_transcoders(a.n_layers, a.d_model, 1024, activation="topk", k=2)
    ids = lm.tokenize("The capital of France is")["input_ids"][0]
    fr = FrozenReplacement(lm, tcs, ids)
    with torch.no_grad():
        real = lm.model(input_ids=ids.unsqueeze(0)).logits[0]
        replaced = fr.logits(fr.run().final_hidden)[0]
    assert torch.equal(replaced, fr.clean.logits)
    assert (replaced - real).abs().max() < 1e-3  # eager vs fused attention, 30 layers, float32
    graph = attribute(lm, tcs, ids, GraphConfig(max_feature_nodes=24, batch_size=16, max_logits=3))
    zero = fr.run(
        features=lambda layer, x: torch.zeros_like(fr.clean.features[layer]).unsqueeze(0),
        embed_scale=torch.zeros(fr.n_pos),
        error_scale=torch.zeros(fr.n_layers, fr.n_pos),
    )
    w_u = a.w_u.detach()
    for k in range(graph.n_logits):
        target = graph.logit_start + k
        column = w_u[:, graph.logit_tokens[k]] - w_u.mean(dim=1)
        bias = float(zero.final_hidden[0, -1] @ column)
        value = float(graph.pre_activations[graph.target_row(target)])
        incoming = float(graph.adjacency[target].double().sum())
        assert incoming + bias == pytest.approx(value, rel=1e-3, abs=1e-2)
