"""Architecture specs: lookup, fallback, errors, and facts read from the weights."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

from babellens.errors import InvalidInputError, UnsupportedArchitectureError
from babellens.models.adapters import FAMILIES as SPECS
from babellens.models.adapters import ModelAdapter, spec_for, supported_families
from tiny_models import FAMILIES, tiny_model


def test_every_declared_family_has_a_tiny_model_test():
    assert {s.name for s in SPECS} == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes(family):
    a = tiny_model(family).adapter
    assert a.spec.name == family
    assert (a.n_layers, a.d_model, a.n_heads, a.head_dim) == (3, 32, 4, 8)
    assert a.w_out(0).shape == (a.d_mlp, 32)
    assert a.w_in(0).shape == (32, a.d_mlp)
    assert a.w_o(0).shape == (4, 8, 32)
    assert a.w_u.shape == (32, 128)
    assert a.w_q(0).shape == (4, 32, 8)
    assert a.w_k(0).shape == (a.n_kv_heads, 32, 8)
    assert (a.w_gate(0) is not None) == a.spec.gated


def test_gpt2_conv1d_weights_are_not_transposed():
    a = tiny_model("gpt2").adapter
    conv = a.module(a.spec.mlp_out, 0)
    assert a.w_out(0).data_ptr() == conv.weight.data_ptr()
    assert torch.equal(a.w_out(0), conv.weight)


def test_phi3_fused_gate_up_split_gate_first():
    a = tiny_model("phi3").adapter
    fused = a.module(a.spec.mlp_in, 0).weight  # [2*d_mlp, d_model]
    assert torch.equal(a.w_gate(0), fused[: a.d_mlp].T)
    assert torch.equal(a.w_in(0), fused[a.d_mlp :].T)


def test_llama_like_fallback_for_an_undeclared_model_type():
    config = tf.LlamaConfig(
        num_hidden_layers=2,
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        vocab_size=64,
        pad_token_id=0,
    )
    model = tf.LlamaForCausalLM(config)
    model.config.model_type = "my_new_llama"
    spec = spec_for(model)
    assert spec.name == "inferred (my_new_llama)" and "Inferred" in spec.notes
    assert spec.blocks == "model.layers" and spec.norms["mlp_in"].endswith(
        "post_attention_layernorm"
    )


def test_unsupported_architecture_lists_families():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(UnsupportedArchitectureError) as err:
        spec_for(model)
    message = str(err.value)
    for family in supported_families():
        assert family in message
    assert "register_spec" in message and "\n" not in message


def test_architectures_is_a_registry_of_model_types():
    from babellens.models.adapters import ARCHITECTURES, architecture, register_spec
    from babellens.models.adapters.families import llama_like

    assert ARCHITECTURES.lookup("llama").name == "llama"
    assert {"llama", "gemma3_text", "qwen2", "gpt2"} <= set(ARCHITECTURES.names())
    with pytest.raises(InvalidInputError) as err:
        ARCHITECTURES.lookup("no_such_type")
    assert "llama" in str(err.value) and "register_spec" in str(err.value)
    try:

        @architecture
        def _two_names():
            return llama_like("twin", ("twin_a", "twin_b"))

        assert ARCHITECTURES.lookup("twin_a") is ARCHITECTURES.lookup("twin_b")
        assert ARCHITECTURES["twin_b"].name == "twin" and "twin" in supported_families()
        replaced = register_spec(llama_like("twin2", ("twin_a",)))
        assert ARCHITECTURES.lookup("twin_a") is replaced
    finally:
        ARCHITECTURES.pop("twin_a", None)
        ARCHITECTURES.pop("twin_b", None)
    assert "twin" not in supported_families()


def test_out_of_range_checks():
    a: ModelAdapter = tiny_model("llama").adapter
    with pytest.raises(InvalidInputError, match=r"layers 0\.\.2"):
        a.w_out(3)
    with pytest.raises(InvalidInputError, match="neuron 64"):
        a.check_neuron(64)
    with pytest.raises(InvalidInputError, match="head -1"):
        a.check_head(-1)
