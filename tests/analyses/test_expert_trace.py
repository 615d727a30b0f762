"""Expert-unit traces on a tiny Mixtral with a byte tokenizer, against the captured tensors."""

from __future__ import annotations

import math

import pytest
import torch

from babellens.analyses.expert_trace import trace_expert_neuron, trace_top_expert_neurons
from babellens.capture.language_model import LanguageModel
from babellens.errors import InvalidInputError
from models.tiny_configs import shrunken_config
from tiny_models import byte_tokenizer


@pytest.fixture(scope="module")
def lm() -> LanguageModel:
    import transformers as tf

    config = shrunken_config("mixtral")
    config.vocab_size = 259
    torch.manual_seed(0)
    model = tf.MixtralForCausalLM(config)
    return LanguageModel(model, byte_tokenizer(), name="tiny-mixtral", source="config")


TEXT = "Paris, Berlin"


def test_one_unit_is_none_exactly_where_its_expert_got_no_weight(lm):
    trace = trace_expert_neuron(lm, TEXT, 1, expert=2, neuron=7)
    out = lm.run(lm.tokenize(TEXT), capture=["expert_post.1", "router_probs.1"])
    for act, weight, expected in zip(
        trace.activations, trace.routing_weights, out["expert_post.1"][0, :, 2, 7], strict=True
    ):
        assert (act is None) == (weight == 0) == bool(torch.isnan(expected))
        assert act is None or math.isclose(act, float(expected), rel_tol=1e-6)


def test_top_units_come_only_from_routed_experts_and_are_the_largest(lm):
    trace = trace_top_expert_neurons(lm, TEXT, 0, k=3)
    post = lm.run(lm.tokenize(TEXT), capture=["expert_post.0"])["expert_post.0"][0]
    for position, row in enumerate(trace.activations):
        assert all(unit.routing_weight > 0 for unit in row)
        best = post[position].nan_to_num(float("-inf")).flatten().max()
        assert math.isclose(row[0].activation, float(best), rel_tol=1e-6)
        assert row[0].activation >= row[1].activation >= row[2].activation


def test_out_of_range_units_are_refused_in_one_line(lm):
    with pytest.raises(InvalidInputError, match="out of range"):
        trace_expert_neuron(lm, TEXT, 0, expert=99, neuron=0)
