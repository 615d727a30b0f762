"""Classic layouts declared in ``families_classic.py``: every shared parity check on their tiny
random models, CodeGen's model-parallel q/k/v split against the model's own reshape, and GPT-1's
mlp_pre read at ``c_fc`` (its activation module is shared by every block)."""

from __future__ import annotations

import pytest
import torch

from babellens.capture import LanguageModel, zero_ablate
from babellens.models.adapters import CLASSIC_FAMILIES
from models.tiny_configs import build_tiny
from parity_checks import ALL_BATCH_CHECKS, check_early_stop, check_value_weights_single_token
from tiny_models import tiny_inputs

TOL = 1e-5
MODEL_TYPES = [t for spec in CLASSIC_FAMILIES for t in spec.model_types]


def _lm(model_type: str) -> LanguageModel:
    return LanguageModel(build_tiny(model_type), None, name=model_type, source="config")


def _inputs() -> dict[str, torch.Tensor]:
    ids, mask = tiny_inputs()
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module", params=MODEL_TYPES)
def classic(request: pytest.FixtureRequest) -> LanguageModel:
    return _lm(request.param)


def test_each_classic_layout_binds_its_declared_spec(classic):
    assert classic.adapter.spec.name == classic.model.config.model_type


@pytest.mark.parametrize("check", ALL_BATCH_CHECKS, ids=lambda c: c.__name__)
def test_parity(classic, check):
    check(classic, _inputs(), TOL)


def test_value_weights_and_early_stop(classic):
    check_value_weights_single_token(classic, TOL, layer=classic.adapter.n_layers - 1)
    check_early_stop(classic, _inputs())


def test_codegen_qkv_split_is_the_models_own_shard_layout():
    lm = _lm("codegen")
    a, attn = lm.adapter, lm.adapter.module(lm.adapter.spec.attn, 1)
    x = torch.randn(3, a.d_model)
    with torch.inference_mode():  # CodeGenAttention.forward: 4 shards of [q | v | k]
        local = a.d_model // 4
        query, value, key = attn.qkv_proj(x).view(3, 4, 3 * local).split(local, dim=-1)
        for ours, theirs in ((a.w_q, query), (a.w_k, key), (a.w_v, value)):
            per_head = torch.einsum("tm,hmd->thd", x, ours(1))
            torch.testing.assert_close(per_head, theirs.reshape(3, a.n_heads, a.head_dim))


def test_codegen_without_shards_would_read_other_columns():
    """The shard layout matters: a plain [q | k | v] split gives a different W_V."""
    lm = _lm("codegen")
    fused = lm.adapter.module(lm.adapter.spec.attn_qkv, 0).weight.T
    plain_v = fused.split(lm.adapter.d_model, dim=-1)[2]
    assert not torch.allclose(lm.adapter.w_v(0).permute(1, 0, 2).reshape_as(plain_v), plain_v)


def test_gpt1_mlp_pre_is_c_fc_output_on_every_layer_and_edits_act_there():
    lm = _lm("openai-gpt")
    a, inputs = lm.adapter, _inputs()
    assert a.module(a.spec.mlp_act, 0) is a.module(a.spec.mlp_act, 1)  # one shared module
    seen: dict[int, torch.Tensor] = {}
    handles = [
        a.module(a.spec.mlp_in, layer).register_forward_hook(
            lambda _m, _a, out, layer=layer: seen.update({layer: out.clone()})
        )
        for layer in range(a.n_layers)
    ]
    try:
        out = lm.run(inputs, capture=[f"mlp_pre.{layer}" for layer in range(a.n_layers)])
    finally:
        for h in handles:
            h.remove()
    for layer in range(a.n_layers):
        torch.testing.assert_close(out[f"mlp_pre.{layer}"], seen[layer], atol=0, rtol=0)

    ablated = lm.run(inputs, logits=True, interventions=[zero_ablate("mlp_pre.1", neurons=[3])])
    assert not torch.allclose(ablated.logits, lm.run(inputs, logits=True).logits)

    def by_hand(_m, _a, output):
        output = output.clone()
        output[..., 3] = 0
        return output

    handle = a.module(a.spec.mlp_in, 1).register_forward_hook(by_hand)
    try:
        with torch.inference_mode():
            manual = lm.model(**inputs).logits
    finally:
        handle.remove()
    torch.testing.assert_close(ablated.logits, manual, atol=TOL, rtol=TOL)


def test_post_norm_models_have_an_identity_final_norm():
    lm = _lm("trocr")
    x = torch.randn(2, lm.adapter.d_model)
    assert lm.adapter.spec.final_norm is None
    assert torch.equal(lm.adapter.final_norm(x), x)


def test_the_identity_final_norm_reads_as_the_identity_map():
    """Folding the final norm into the congruence must not rescale W_U where there is none."""
    from babellens.models.norms import norm_affine

    lm = _lm("openai-gpt")
    affine = norm_affine(lm.adapter.final_norm, lm.adapter.d_model)
    assert torch.equal(affine.gamma, torch.ones(lm.adapter.d_model))
    assert torch.equal(affine.beta, torch.zeros(lm.adapter.d_model))
    assert not affine.centres
    x = torch.randn(3, lm.adapter.d_model)
    inverse = affine.inverse_scale(x, lm.adapter.final_norm(x))
    torch.testing.assert_close(inverse, torch.ones(3))
