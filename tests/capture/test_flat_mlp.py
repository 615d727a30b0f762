"""OPT runs its MLP on flattened [batch * pos] rows: hook points keep [batch, pos, ...]."""

from __future__ import annotations

import torch

from babellens.capture import zero_ablate
from babellens.capture.language_model import LanguageModel
from models.tiny_configs import build_tiny
from tiny_models import tiny_inputs


def test_opt_neuron_ablation_at_one_position_equals_a_hand_hook_on_the_flat_rows():
    lm = LanguageModel(build_tiny("opt"), None, name="opt", source="config")
    ids, mask = tiny_inputs()
    inputs = {"input_ids": ids, "attention_mask": mask}
    out = lm.run(inputs, capture=["mlp_post.1"])
    assert out["mlp_post.1"].shape == (2, 10, lm.adapter.d_mlp)
    edit = [zero_ablate("mlp_post.1", neurons=[5], positions=[3])]
    ablated = lm.run(inputs, logits=True, interventions=edit).logits

    def by_hand(_m, args):
        rows = args[0].clone()
        rows.view(2, 10, -1)[:, 3, 5] = 0
        return (rows,)

    handle = lm.model.model.decoder.layers[1].fc2.register_forward_pre_hook(by_hand)
    try:
        with torch.inference_mode():
            expected = lm.model(**inputs).logits
    finally:
        handle.remove()
    torch.testing.assert_close(ablated, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(ablated, lm.run(inputs, logits=True).logits)
