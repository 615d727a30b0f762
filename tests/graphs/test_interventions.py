from __future__ import annotations

import pytest
import torch

from babellens.graphs.frozen import FrozenReplacement
from babellens.graphs.interventions import FeatureEdit, intervene
from graphs.fake_transcoders import fake_transcoders
from tiny_models import tiny_inputs, tiny_model


def test_no_edit_changes_nothing_and_switching_off_matches_a_hand_ablation() -> None:
    lm = tiny_model("llama")
    transcoders = fake_transcoders(lm)
    ids = tiny_inputs(1, 6)[0]
    fr = FrozenReplacement(lm, transcoders, ids)
    # the strongest feature at the last position of layer 1
    f = fr.clean.features[1][-1]
    feature = int(f.argmax())
    unchanged = intervene(
        lm, transcoders, ids, [FeatureEdit(layer=1, pos=5, feature=feature, scale=1.0)]
    )
    assert unchanged.real_after == unchanged.real_before
    assert unchanged.replacement_after == unchanged.replacement_before
    # the live replacement model (features recomputed) starts where the real model is
    assert [t.token_id for t in unchanged.replacement_before] == [
        t.token_id for t in unchanged.real_before
    ]
    off = intervene(lm, transcoders, ids, [FeatureEdit(layer=1, pos=5, feature=feature)], top=3)
    # hand ablation in the real model: subtract the feature's decoder row from the MLP output
    delta = float(f[feature]) * transcoders[1].W_dec[feature]

    def hook(module, args, out):
        out = out.clone()
        out[0, 5] -= delta
        return out

    handle = lm.adapter.module(lm.adapter.spec.mlp, 1).register_forward_hook(hook)
    try:
        with torch.no_grad():
            logits = lm.model(input_ids=ids).logits[0, -1]
    finally:
        handle.remove()
    probs = torch.softmax(logits.double(), -1).topk(3)
    assert [t.token_id for t in off.real_after] == probs.indices.tolist()
    assert [t.probability for t in off.real_after] == pytest.approx(probs.values.tolist(), abs=1e-6)
    assert off.real_after != off.real_before
    assert off.replacement_after != off.replacement_before
