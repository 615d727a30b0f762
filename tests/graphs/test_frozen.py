from __future__ import annotations

import pytest
import torch

from babellens.errors import InvalidInputError
from babellens.graphs.frozen import FrozenReplacement
from graphs.fake_transcoders import fake_transcoders
from tiny_models import tiny_inputs, tiny_model


@pytest.mark.parametrize("family", ["llama", "gemma3", "qwen2"])
@pytest.mark.parametrize("skip", [False, True])
def test_replacement_with_error_nodes_gives_the_models_logits(family: str, skip: bool) -> None:
    lm = tiny_model(family)
    transcoders = fake_transcoders(lm, skip=skip)
    ids = tiny_inputs(1, 9)[0]
    fr = FrozenReplacement(lm, transcoders, ids)
    with torch.no_grad():
        real = lm.model(input_ids=ids).logits[0]
    replaced = fr.logits(fr.run().final_hidden)[0]
    # exact against the recorded clean pass; eager vs fused attention differ by rounding only
    assert torch.equal(replaced, fr.clean.logits)
    assert torch.allclose(replaced, real, atol=1e-5, rtol=0)
    # the transcoders are random, so the error nodes carry most of each MLP output
    for layer in range(lm.adapter.n_layers):
        assert fr.clean.errors[layer].norm() > 0.3 * fr.clean.mlp_out[layer].norm()


def test_gemma3_has_four_frozen_norms_per_block_and_a_final_norm() -> None:
    lm = tiny_model("gemma3")
    fr = FrozenReplacement(lm, fake_transcoders(lm), tiny_inputs(1, 5)[0])
    assert len(fr._norms) == 4 * lm.adapter.n_layers + 1


def _feature_override(fr: FrozenReplacement, deltas: dict[int, torch.Tensor]):
    return lambda layer, x: (fr.clean.features[layer] + deltas.get(layer, 0)).unsqueeze(0)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_frozen_model_is_affine_in_the_feature_activations(family: str) -> None:
    """f(a + d1 + d2) - f(a + d1) - f(a + d2) + f(a) == 0 for large d: nothing nonlinear is left."""
    lm = tiny_model(family)
    lm.model.double()
    fr = FrozenReplacement(lm, fake_transcoders(lm), tiny_inputs(1, 6)[0])
    gen = torch.Generator().manual_seed(3)
    shape = fr.clean.features[0].shape
    d1 = {0: torch.randn(shape, generator=gen, dtype=torch.float64) * 3}
    d2 = {1: torch.randn(shape, generator=gen, dtype=torch.float64) * 3}
    both = {0: d1[0], 1: d2[1]}

    def out(deltas):
        return fr.run(features=_feature_override(fr, deltas)).final_hidden

    second = out(both) - out(d1) - out(d2) + out({})
    assert second.abs().max() < 1e-9
    assert (out(d1) - out({})).abs().max() > 1e-2  # and the perturbation did reach the output


def test_a_missing_layer_is_refused_in_one_line() -> None:
    lm = tiny_model("llama")
    transcoders = fake_transcoders(lm)
    del transcoders[1]
    with pytest.raises(InvalidInputError, match=r"no transcoder for layer\(s\) 1"):
        FrozenReplacement(lm, transcoders, tiny_inputs(1, 5)[0])
