"""Live traces of a mixture-of-experts layer with a shared expert (Qwen2-MoE): routed units are
None where not routed, shared units are the shared expert's neurons at every token."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from babellens.analyses.next_token_neurons import NextTokenConfig, next_token_neurons
from babellens.analyses.token_trace import layer_units, trace_neuron, trace_top_neurons
from babellens.capture.language_model import LanguageModel
from models.tiny_configs import shrunken_config
from tiny_models import byte_tokenizer

TEXT = "Le renard brun rapide saute"


def _qwen_moe() -> LanguageModel:
    config = shrunken_config("qwen2_moe")
    config.vocab_size = 259
    torch.manual_seed(1)
    hf = AutoModelForCausalLM.from_config(config).eval()
    return LanguageModel(hf, byte_tokenizer(), name="qwen2_moe", source="config")


def test_routed_and_shared_units_of_a_trace_are_the_plain_captures():
    lm = _qwen_moe()
    a = lm.adapter
    routed = a.n_experts * a.d_expert
    assert layer_units(lm, 1) == routed + a.d_shared(1)
    out = lm.run(lm.tokenize(TEXT), capture=["expert_post.1", "shared_post.1"])
    experts, shared = out["expert_post.1"][0], out["shared_post.1"][0]
    unit = a.d_expert + 2  # expert 1, neuron 2
    got = trace_neuron(lm, TEXT, 1, unit).activations
    want = experts[:, 1, 2].tolist()
    assert [g is None for g in got] == [w != w for w in want] and None in got
    assert all(g == w for g, w in zip(got, want, strict=True) if g is not None)
    assert trace_neuron(lm, TEXT, 1, routed + 5).activations == shared[:, 5].tolist()
    every = torch.cat([experts.reshape(experts.shape[0], -1), shared], dim=1)
    top = trace_top_neurons(lm, TEXT, 1, k=4)
    for row, values in zip(top.activations, every, strict=True):
        best = values.nan_to_num(float("-inf")).topk(4).indices.tolist()
        assert [c.neuron for c in row] == best


def test_next_token_records_of_shared_units_use_the_shared_output_weights():
    lm = _qwen_moe()
    a = lm.adapter
    records = next_token_neurons(lm, NextTokenConfig(layers=[1], top_tokens=3))
    routed = a.n_experts * a.d_expert
    assert len(records) == routed + a.d_shared(1)
    gamma = a.final_norm.weight.float()
    with torch.inference_mode():
        full = (a.w_out_shared(1).float() * gamma) @ a.w_u.float()
    for n in (0, a.d_shared(1) - 1):
        promoted = [t.token_id for t in records[routed + n].promoted]
        assert promoted == full[n].topk(3).indices.tolist()
