"""Interventions, reductions and hook points on hand-made tensors and tiny models."""

from __future__ import annotations

import pytest
import torch

from babellens.capture import (
    HOOK_KINDS,
    add,
    last_position,
    max_over_positions,
    mean_over_positions,
    parse_hook_point,
    replace,
    scale,
    zero_ablate,
)
from babellens.errors import InvalidInputError
from tiny_models import tiny_inputs, tiny_model


def test_zero_ablate_selects_outer_product_of_heads_and_positions():
    x = torch.ones(2, 4, 3, 2)  # [batch, pos, head, head_dim]
    out = zero_ablate("attn_z.0", heads=[0, 2], positions=[1, 3]).apply(x, "attn_z")
    expected = torch.ones(2, 4, 3, 2)
    for p in (1, 3):
        for h in (0, 2):
            expected[:, p, h] = 0
    assert torch.equal(out, expected)
    assert torch.equal(x, torch.ones(2, 4, 3, 2)), "the input must not be modified in place"


def test_add_replace_scale_on_neurons():
    x = torch.arange(12.0).reshape(1, 3, 4)
    assert torch.equal(
        add("mlp_post.0", 10.0, neurons=[1]).apply(x, "mlp_post")[..., 1], x[..., 1] + 10
    )
    vec = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert torch.equal(add("resid_post.0", vec).apply(x, "resid_post"), x + vec)
    rep = replace("mlp_post.0", 7.0, positions=[0]).apply(x, "mlp_post")
    assert torch.equal(rep[0, 0], torch.full((4,), 7.0)) and torch.equal(rep[0, 1:], x[0, 1:])
    assert torch.equal(
        scale("mlp_post.0", 2.0, neurons=[3]).apply(x, "mlp_post")[..., 3], 2 * x[..., 3]
    )


def test_attn_pattern_axes_are_head_then_query():
    x = torch.ones(1, 3, 5, 5)  # [batch, head, query, key]
    out = zero_ablate("attn_pattern.0", heads=[1], positions=[4]).apply(x, "attn_pattern")
    assert out[0, 1, 4].sum() == 0 and out.sum() == 75 - 5


def test_out_of_range_selection_is_a_user_error():
    with pytest.raises(InvalidInputError, match="out of range"):
        zero_ablate("attn_z.0", heads=[5]).apply(torch.ones(1, 2, 3, 4), "attn_z")
    with pytest.raises(InvalidInputError, match="heads cannot be selected"):
        zero_ablate("mlp_post.0", heads=[0]).apply(torch.ones(1, 2, 3), "mlp_post")


def test_reductions_ignore_padding():
    x = torch.tensor([[[1.0], [5.0], [3.0]], [[2.0], [1.0], [100.0]]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    assert max_over_positions(x, mask).flatten().tolist() == [5.0, 2.0]
    assert mean_over_positions(x, mask).flatten().tolist() == [3.0, 1.5]
    assert last_position(x, mask).flatten().tolist() == [3.0, 1.0]
    assert max_over_positions(x, None).flatten().tolist() == [5.0, 100.0]


def test_parse_hook_point():
    assert parse_hook_point("mlp_post.3", 4).name == "mlp_post.3"
    with pytest.raises(InvalidInputError, match="unknown hook point"):
        parse_hook_point("mlp.3", 4)
    with pytest.raises(InvalidInputError, match="out of range"):
        parse_hook_point("resid_post.4", 4)
    assert set(HOOK_KINDS) == {
        "router_probs",
        "expert_post",
        "resid_pre",
        "resid_post",
        "attn_z",
        "attn_out",
        "attn_pattern",
        "attn_router_probs",
        "mlp_in",
        "mlp_pre",
        "mlp_post",
        "shared_pre",
        "shared_post",
        "mlp_out",
    }


def test_reduced_capture_equals_reduction_of_full_capture():
    lm = tiny_model("llama")
    ids, mask = tiny_inputs()
    inputs = {"input_ids": ids, "attention_mask": mask}
    full = lm.run(inputs, capture=["mlp_post.1"])["mlp_post.1"]
    reduced = lm.run(inputs, capture=["mlp_post.1"], reduce=max_over_positions)["mlp_post.1"]
    assert reduced.shape == (2, lm.adapter.d_mlp)
    torch.testing.assert_close(reduced[1], full[1, :7].amax(0), atol=0, rtol=0)


def test_padding_does_not_change_real_positions():
    """Right padding: a padded row's real tokens give the same activations as the row alone."""
    lm = tiny_model("qwen2")
    ids, mask = tiny_inputs()
    batched = lm.run({"input_ids": ids, "attention_mask": mask}, capture=["resid_post.2"])[
        "resid_post.2"
    ]
    alone = lm.run(ids[1:, :7], capture=["resid_post.2"])["resid_post.2"]
    torch.testing.assert_close(batched[1, :7], alone[0], atol=1e-5, rtol=0)


def test_attention_pattern_is_causal_and_sums_to_one_and_restores_sdpa():
    lm = tiny_model("gemma3")
    before = lm.model.config._attn_implementation
    pattern = lm.run(torch.tensor([[4, 5, 6, 7]]), capture=["attn_pattern.1"])["attn_pattern.1"]
    assert pattern.shape == (1, lm.adapter.n_heads, 4, 4)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(1, lm.adapter.n_heads, 4))
    assert torch.all(pattern.triu(1) == 0)
    assert lm.model.config._attn_implementation == before


def test_hooks_context_manager_works_under_generate():
    lm = tiny_model("llama")
    with lm.hooks(capture=["resid_post.0"]) as session:
        lm.model.generate(torch.tensor([[4, 5, 6]]), max_new_tokens=3, do_sample=False)
    shapes = [t.shape[1] for t in session.activations["resid_post.0"]]
    assert shapes == [3, 1, 1]
    assert not lm.adapter.block(0)._forward_hooks, "hooks are removed on exit"


def test_adding_a_vector_changes_only_downstream():
    lm = tiny_model("phi3")
    ids, _ = tiny_inputs(batch=1)
    points = ["resid_post.0", "resid_post.1", "resid_post.2"]
    clean = lm.run(ids, capture=points)
    vec = torch.randn(lm.adapter.d_model)
    steered = lm.run(ids, capture=points, interventions=[add("resid_post.1", vec)])
    torch.testing.assert_close(steered["resid_post.0"], clean["resid_post.0"], atol=0, rtol=0)
    torch.testing.assert_close(
        steered["resid_post.1"], clean["resid_post.1"] + vec, atol=1e-6, rtol=0
    )
    assert not torch.allclose(steered["resid_post.2"], clean["resid_post.2"])
