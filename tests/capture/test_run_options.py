"""The one forward API's options: the final hidden state, eager attention and the grad modes."""

from __future__ import annotations

import pytest
import torch

from babellens.errors import InvalidInputError
from tiny_models import tiny_inputs, tiny_model


@pytest.fixture(autouse=True)
def _inference_mode():
    """Overrides the package fixture: these tests choose the grad mode themselves."""
    yield


def test_final_hidden_is_the_decoders_output():
    lm = tiny_model("llama")
    ids, mask = tiny_inputs()
    out = lm.run({"input_ids": ids, "attention_mask": mask}, final_hidden=True)
    with torch.inference_mode():
        expected = lm.model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert out.logits is None
    torch.testing.assert_close(out.final_hidden, expected, rtol=0, atol=0)


def test_grad_modes():
    lm = tiny_model("llama")
    ids, _ = tiny_inputs(batch=1)
    inference = lm.run(ids, capture=["resid_post.1"])["resid_post.1"]
    plain = lm.run(ids, capture=["resid_post.1"], grad="no_grad")["resid_post.1"]
    graph = lm.run(ids, final_hidden=True, grad="grad").final_hidden
    assert inference.is_inference() and not plain.is_inference() and not plain.requires_grad
    assert graph.requires_grad
    graph.sum().backward()
    assert (
        lm.model.model.norm.weight.grad is not None
        and lm.model.model.norm.weight.grad.abs().sum() > 0
    )
    lm.model.zero_grad()
    torch.testing.assert_close(plain, inference, rtol=0, atol=0)
    with pytest.raises(InvalidInputError, match="grad mode"):
        lm.run(ids, grad="sometimes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not both"):
        lm.run(ids, logits=True, final_hidden=True)


def test_eager_runs_eager_attention_and_restores_the_setting():
    lm = tiny_model("llama")
    lm.model.set_attn_implementation("sdpa")
    ids, mask = tiny_inputs()
    seen = []
    handle = lm.adapter.module(lm.adapter.spec.attn, 0).register_forward_hook(
        lambda m, a, out: seen.append(out[1])
    )
    try:
        eager = lm.run({"input_ids": ids, "attention_mask": mask}, logits=True, eager=True)
        plain = lm.run({"input_ids": ids, "attention_mask": mask}, logits=True)
    finally:
        handle.remove()
    assert seen[0] is not None and seen[0].shape == (2, 4, 10, 10)  # eager returns the pattern
    assert seen[1] is None  # sdpa does not
    assert lm.model.config._attn_implementation == "sdpa"
    real = mask.bool()
    torch.testing.assert_close(eager.logits[real], plain.logits[real], rtol=1e-5, atol=1e-5)
