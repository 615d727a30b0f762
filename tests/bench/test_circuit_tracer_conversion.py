"""The circuit-tracer comparison's own code, checked without circuit-tracer's environment.

benchmarks/run_circuit_tracer.py converts BabelLens's transcoders into circuit-tracer's layout
and maps circuit-tracer's nodes onto BabelLens's; if either were wrong the benchmark would
report a disagreement that is not there (or hide one), so both are tested here against hand
computations in circuit-tracer's conventions (restated, not imported).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from babellens.graphs._simple_transcoder import random_transcoders
from babellens.graphs.attribution import GraphConfig, attribute
from graphs.fake_transcoders import fake_transcoders
from tiny_models import tiny_inputs, tiny_model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench = importlib.import_module("run_circuit_tracer")


@pytest.mark.parametrize("skip", [False, True])
def test_written_transcoders_compute_the_same_outputs_in_circuit_tracers_convention(
    tmp_path: Path, skip: bool
):
    tcs = random_transcoders(
        2, 8, 16, seed=3, activation="jumprelu", skip=skip, dtype=torch.float64
    )
    bench.write_ct_transcoders(tcs, tmp_path)
    x = torch.randn(5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for layer, tc in tcs.items():
        t = load_file(str(tmp_path / f"layer_{layer}.safetensors"))
        assert t["W_enc"].shape == (16, 8) and t["W_enc"].dtype == torch.float64
        pre = F.linear(x, t["W_enc"], t["b_enc"])  # circuit-tracer encodes with F.linear
        acts = pre * (pre > t["activation_function.threshold"])
        out = acts @ t["W_dec"] + t["b_dec"]
        if skip:
            out = out + x @ t["W_skip"].T  # and adds x @ W_skip.T
        else:
            assert "W_skip" not in t
        assert (acts > 0).any() and (acts == 0).any()
        assert torch.allclose(acts, tc.encode(x), atol=1e-12, rtol=0)
        assert torch.allclose(out, tc(x), atol=1e-12, rtol=0)


def test_top_k_transcoders_are_refused(tmp_path: Path):
    tcs = random_transcoders(1, 8, 16, activation="topk", k=2)
    with pytest.raises(ValueError, match="JumpReLU or ReLU"):
        bench.write_ct_transcoders(tcs, tmp_path)


def _graph():
    lm = tiny_model("llama")
    lm.model.double()
    return attribute(lm, fake_transcoders(lm), tiny_inputs(1, 6, seed=4)[0], GraphConfig())


def _as_circuit_tracer(graph) -> dict[str, torch.Tensor]:
    """The same graph laid out the way circuit-tracer lays it out: no position-0 features,
    zero position-0 error columns, and (to test matching by token id) logits in reverse order."""
    keep = graph.features[:, 1] != 0
    n_nodes = graph.n_nodes
    order = torch.cat(
        [
            torch.nonzero(keep).flatten(),
            torch.arange(graph.error_start, graph.logit_start),
            torch.arange(n_nodes - 1, graph.logit_start - 1, -1),
        ]
    )
    adjacency = graph.adjacency[order][:, order].clone()
    n_ct = int(keep.sum())
    for layer in range(graph.n_layers):
        adjacency[:, n_ct + layer * graph.n_pos] = 0
    return {
        "adjacency": adjacency,
        "active_features": graph.features[keep],
        "activation_values": graph.activations[keep],
        "logit_tokens": graph.logit_tokens.flip(0),
    }


def test_node_mapping_pairs_every_edge_and_reports_what_it_leaves_out():
    graph = _graph()
    ct = _as_circuit_tracer(graph)
    pos0 = int((graph.features[:, 1] == 0).sum())
    assert pos0 > 0 and graph.n_logits > 1
    result = bench.compare_graphs(graph, ct)
    nodes, left = result["nodes"], result["left_out"]
    assert nodes["matched_feature"] == graph.n_features - pos0
    assert nodes["matched_error"] == graph.n_layers * (graph.n_pos - 1)
    assert nodes["matched_token"] == graph.n_pos and nodes["matched_logit"] == graph.n_logits
    assert nodes["circuit_tracer_unmatched_features"] == 0
    assert left["babellens_pos0_features"] == pos0
    assert left["babellens_pos0_errors"] == graph.n_layers
    assert left["babellens_max_abs_edge_from_them"] > 0
    assert left["circuit_tracer_max_abs_edge_from_pos0_errors"] == 0
    assert result["all"]["max_abs_diff"] == 0 and result["all"]["max_abs_edge"] > 0
    f = graph.n_features - pos0
    assert result["by_type"]["feature->feature"]["edges"] == f * f
    assert result["by_type"]["*->logit"]["edges"] == graph.n_logits * (
        f + graph.n_layers * (graph.n_pos - 1) + graph.n_pos
    )


def test_a_changed_edge_shows_in_its_type_only():
    graph = _graph()
    ct = _as_circuit_tracer(graph)
    n_ct = int(ct["active_features"].shape[0])
    logit_row = ct["adjacency"].shape[0] - 1
    token_col = n_ct + graph.n_layers * graph.n_pos + 2
    ct["adjacency"][logit_row, token_col] += 1e-3
    result = bench.compare_graphs(graph, ct)
    assert result["by_type"]["token->logit"]["max_abs_diff"] == pytest.approx(1e-3, rel=1e-6)
    assert result["by_type"]["*->logit"]["max_abs_diff"] == pytest.approx(1e-3, rel=1e-6)
    others = {k: v for k, v in result["by_type"].items() if k not in ("token->logit", "*->logit")}
    assert all(v["max_abs_diff"] == 0 for v in others.values())


def test_model_folder_carries_the_fields_transformers_4_reads(tmp_path: Path):
    import json

    from transformers import AutoTokenizer

    folder = bench.build_model(tmp_path / "model", n_layers=2, d_model=16)
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    cfg = json.loads((folder / "config.json").read_text())
    assert tok["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert cfg["rope_theta"] == cfg["rope_parameters"]["rope_theta"] == 10000.0
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["num_hidden_layers"] == 2
    # "F" is byte 0x46: the 38th printable of the byte alphabet after the 3 specials; <bos> first
    assert AutoTokenizer.from_pretrained(folder)("F")["input_ids"] == [1, 40]
