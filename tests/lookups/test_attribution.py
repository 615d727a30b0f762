"""Head attribution against second computations: an exact sum of all components (GELU models),
finite differences of the real model (gated models), hand-made scores for the active-head rule."""

from __future__ import annotations

import functools

import pytest
import torch

from babellens.capture import last_position
from babellens.errors import InvalidInputError
from babellens.lookups import active_heads, head_attributions
from babellens.models.norms import norm_affine
from tiny_models import tiny_inputs, tiny_model

NEURONS = [3, 40]


def _last(lm, ids, mask, points: list[str]) -> dict[str, torch.Tensor]:
    """Each hook point's value at every row's last real position (float64 models)."""
    return lm.run(
        {"input_ids": ids, "attention_mask": mask}, capture=points, reduce=last_position
    ).activations


@functools.cache
def _model(family: str, double: bool = False):
    """One tiny model per family and precision for the whole module (no test changes weights)."""
    lm = tiny_model(family)
    if double:
        lm.model.double()
    return lm


def _double(family: str):
    return _model(family, double=True)


@torch.inference_mode()
def _head_outputs(lm, z: torch.Tensor, layer: int) -> torch.Tensor:
    """``[batch, n_heads, d_model]``: z_h W_O^h straight from the HF o-projection weight."""
    a = lm.adapter
    o = a.module(a.spec.attn_o, layer)
    weight = o.weight if a.spec.conv1d else o.weight.T  # [H * hd, d]
    per_head = weight.reshape(a.n_heads, a.head_dim, -1)
    return torch.einsum("bhk,hkd->bhd", z, per_head)


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox"])
@pytest.mark.parametrize("layer", [1, 2])
def test_direct_contributions_of_all_components_sum_to_the_preactivation(family, layer):
    """Embeddings + positions + every head + attention biases + earlier MLP outputs, each through
    the LayerNorm frozen at its actual std, plus β·w_in + b_in, give the pre-activation exactly."""
    lm = _model(family)
    hf, a = lm.model, lm.adapter
    ids, mask = tiny_inputs(3, 12)
    last = mask.sum(1) - 1
    rows = torch.arange(3)
    parallel = family == "gpt_neox"
    blocks = hf.gpt_neox.layers if parallel else hf.transformer.h
    ln = blocks[layer].post_attention_layernorm if parallel else blocks[layer].ln_2
    acts = _last(
        lm,
        ids,
        mask,
        [f"resid_pre.{layer}", f"attn_out.{layer}", f"mlp_pre.{layer}"]
        + [f"mlp_out.{i}" for i in range(layer)],
    )
    x = acts[f"resid_pre.{layer}"] + (0 if parallel else acts[f"attn_out.{layer}"])
    std = (x.var(dim=-1, unbiased=False, keepdim=True) + ln.eps).sqrt()
    w = a.w_in(layer)[:, NEURONS].detach()  # [d, n]

    def through_norm(c: torch.Tensor) -> torch.Tensor:
        return ((c - c.mean(-1, keepdim=True)) / std * ln.weight) @ w

    if parallel:
        others = hf.gpt_neox.embed_in.weight[ids[rows, last]]
    else:
        others = hf.transformer.wte.weight[ids[rows, last]] + hf.transformer.wpe.weight[last]
    for i in range(layer + (0 if parallel else 1)):
        others = others + a.b_o(i)
    for i in range(layer):
        others = others + acts[f"mlp_out.{i}"]
    expected = acts[f"mlp_pre.{layer}"][:, NEURONS]
    with torch.no_grad():
        constant = ln.bias @ w + a.b_in(layer)[NEURONS]
        rest = through_norm(others) + constant
    for j, neuron in enumerate(NEURONS):
        got = head_attributions(lm, ids, mask, layer, neuron, include_own_layer=True)
        assert got.method == "direct"
        assert got.values.shape == (3, layer + 1, a.n_heads)
        total = got.values.double().sum(dim=(1, 2)) + rest[:, j]
        torch.testing.assert_close(total, expected[:, j].double(), atol=1e-4, rtol=0)
        torch.testing.assert_close(got.preactivation, expected[:, j], atol=1e-6, rtol=0)
        if parallel:  # the MLP reads the block input: the own layer's heads never feed it
            assert torch.all(got.values[:, layer] == 0)
        heads_only = head_attributions(lm, ids, mask, layer, neuron)
        torch.testing.assert_close(heads_only.values, got.values[:, :layer])


@torch.inference_mode()
def _mlp_norm_input(lm, family: str, ids, mask, layer: int) -> tuple[torch.Tensor, object]:
    """The residual entering the pre-MLP norm at the last positions, and that norm (HF modules)."""
    block = lm.model.model.layers[layer]
    acts = _last(lm, ids, mask, [f"resid_pre.{layer}", f"attn_out.{layer}"])
    attn = acts[f"attn_out.{layer}"]
    if family == "gemma3":
        return acts[f"resid_pre.{layer}"] + block.post_attention_layernorm(attn), (
            block.pre_feedforward_layernorm
        )
    return acts[f"resid_pre.{layer}"] + attn, block.post_attention_layernorm


@torch.inference_mode()
def _residual_contributions(lm, family: str, ids, mask, layer: int) -> torch.Tensor:
    """``[batch, layer, n_heads, d_model]``: each head's contribution to the residual stream
    (Gemma: through its post-attention RMSNorm at the scale of this forward pass)."""
    points = [f"attn_z.{i}" for i in range(layer)] + [f"attn_out.{i}" for i in range(layer)]
    acts = _last(lm, ids, mask, points)
    out = []
    for i in range(layer):
        c = _head_outputs(lm, acts[f"attn_z.{i}"], i)
        if family == "gemma3":
            norm = lm.model.model.layers[i].post_attention_layernorm
            attn = acts[f"attn_out.{i}"]
            scale = torch.rsqrt(attn.pow(2).mean(-1, keepdim=True) + norm.eps) * (1 + norm.weight)
            c = c * scale.unsqueeze(1)
        out.append(c)
    return torch.stack(out, dim=1)


def _finite_differences(lm, ids, mask, layer, neuron, norm, contributions, eps: float):
    """``[batch, layers, heads]`` central differences of the neuron's activation when ``±ε c_h``
    is added to the residual entering the pre-MLP norm: every (head, sign) is one more copy of
    the batch in a single forward pass."""
    batch, layers, heads, d = contributions.shape
    deltas = eps * contributions.permute(1, 2, 0, 3).reshape(-1, batch, d)  # [(l h), b, d]
    deltas = torch.cat([deltas, -deltas]).reshape(-1, d)
    copies = deltas.shape[0] // batch
    last = (mask.sum(1) - 1).repeat(copies)
    rows = torch.arange(deltas.shape[0])

    def add(_m, args):
        x = args[0].clone()
        x[rows, last] += deltas
        return (x, *args[1:])

    handle = norm.register_forward_pre_hook(add)
    try:
        out = _last(lm, ids.repeat(copies, 1), mask.repeat(copies, 1), [f"mlp_post.{layer}"])
    finally:
        handle.remove()
    up, down = out[f"mlp_post.{layer}"][:, neuron].reshape(2, layers, heads, batch)
    return ((up - down) / (2 * eps)).permute(2, 0, 1)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_gradient_attribution_matches_finite_differences(family):
    """act(x + ε c_h) - act(x - ε c_h) = 2ε A_h + O(ε³), on the real model in float64 (whose
    RMSNorms still compute in float32: ε = 1e-2 keeps that rounding below the O(ε²) error)."""
    lm = _double(family)
    layer, neuron, eps = 2, 17, 1e-2
    ids, mask = tiny_inputs(2, 10)
    got = head_attributions(lm, ids, mask, layer, neuron)
    assert got.method == "gradient"
    contributions = _residual_contributions(lm, family, ids, mask, layer)
    _, norm = _mlp_norm_input(lm, family, ids, mask, layer)
    fd = _finite_differences(lm, ids, mask, layer, neuron, norm, contributions, eps)
    torch.testing.assert_close(got.values.double(), fd, atol=3e-7, rtol=1e-3)
    assert fd.abs().max() > 1e-3  # the check is not vacuous
    clean = _last(lm, ids, mask, [f"mlp_post.{layer}", f"mlp_pre.{layer}"])
    torch.testing.assert_close(
        got.activation.double(), clean[f"mlp_post.{layer}"][:, neuron], atol=1e-6, rtol=1e-5
    )
    torch.testing.assert_close(
        got.preactivation.double(), clean[f"mlp_pre.{layer}"][:, neuron], atol=1e-6, rtol=1e-5
    )


def test_gradient_method_on_a_gelu_model_matches_finite_differences():
    lm = _double("gpt2")
    layer, neuron, eps = 2, 5, 1e-3
    ids, mask = tiny_inputs(2, 10)
    got = head_attributions(lm, ids, mask, layer, neuron, method="gradient")
    acts = _last(lm, ids, mask, [f"attn_z.{i}" for i in range(layer)])
    norm = lm.model.transformer.h[layer].ln_2
    contributions = torch.stack(
        [_head_outputs(lm, acts[f"attn_z.{i}"], i) for i in range(layer)], 1
    )
    fd = _finite_differences(lm, ids, mask, layer, neuron, norm, contributions, eps)
    torch.testing.assert_close(got.values.double(), fd, atol=3e-7, rtol=1e-3)


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_direct_method_on_a_gated_model_decomposes_the_gate_preactivation(family):
    """Heads + everything else, through the RMSNorm frozen at its actual scale, give the gate."""
    lm = _double(family)
    layer, neuron = 2, 40
    ids, mask = tiny_inputs(2, 10)
    got = head_attributions(lm, ids, mask, layer, neuron, method="direct")
    x, norm = _mlp_norm_input(lm, family, ids, mask, layer)
    gamma = norm.weight + (1 if family == "gemma3" else 0)
    eps = norm.eps if family == "gemma3" else norm.variance_epsilon
    inv_rms = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    w_gate = lm.model.model.layers[layer].mlp.gate_proj.weight[neuron]
    contributions = _residual_contributions(lm, family, ids, mask, layer)
    with torch.no_grad():
        expected = torch.einsum(
            "blhd,d->blh", contributions * inv_rms[:, None, None], gamma * w_gate
        )
        rest = ((x - contributions.sum(dim=(1, 2))) * inv_rms * gamma) @ w_gate
    torch.testing.assert_close(got.values.double(), expected, atol=1e-6, rtol=1e-5)
    gate = _last(lm, ids, mask, [f"mlp_pre.{layer}"])[f"mlp_pre.{layer}"][:, neuron]
    torch.testing.assert_close(got.values.double().sum(dim=(1, 2)) + rest, gate, atol=1e-6, rtol=0)


@pytest.mark.parametrize("family", ["llama", "gemma3", "qwen2", "phi3", "gpt2", "gpt_neox"])
def test_padded_rows_score_as_if_alone(family):
    lm = _model(family)
    ids, mask = tiny_inputs(2, 10)
    batch = head_attributions(lm, ids, mask, 2, 9)
    alone = head_attributions(lm, ids[1:, :7], None, 2, 9)
    torch.testing.assert_close(batch.values[1:], alone.values, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(batch.activation[1:], alone.activation, atol=1e-5, rtol=1e-4)
    assert torch.isfinite(batch.values).all()


def test_layer_zero_has_no_heads_below_and_bad_arguments_are_user_errors():
    lm = _model("llama")
    ids, mask = tiny_inputs(2, 6)
    assert head_attributions(lm, ids, mask, 0, 1).values.shape == (2, 0, 4)
    with pytest.raises(InvalidInputError, match="layer 3 is out of range"):
        head_attributions(lm, ids, mask, 3, 1)
    with pytest.raises(InvalidInputError, match="neuron"):
        head_attributions(lm, ids, mask, 1, 64)
    with pytest.raises(InvalidInputError, match="unknown attribution method"):
        head_attributions(lm, ids, mask, 1, 1, method="exact")  # type: ignore[arg-type]
    mask[0] = 0
    with pytest.raises(InvalidInputError, match="keep a token in every row"):
        head_attributions(lm, ids, mask, 1, 1)


@pytest.mark.parametrize("family", ["gpt2", "gemma3", "llama"])
def test_norm_probe_reads_gamma_beta_and_centring(family):
    lm = _model(family)
    norm = lm.adapter.norm("mlp_in", 1)
    affine = norm_affine(norm, lm.adapter.d_model, torch.float64)
    gamma = norm.weight.double() + (1 if family == "gemma3" else 0)
    torch.testing.assert_close(affine.gamma, gamma, atol=1e-5, rtol=1e-5)
    beta = norm.bias.double() if family == "gpt2" else torch.zeros_like(gamma)
    torch.testing.assert_close(affine.beta, beta)
    assert affine.centres == (family == "gpt2")
    x = torch.randn(3, lm.adapter.d_model, generator=torch.Generator().manual_seed(0)) * 3 + 1
    with torch.no_grad():
        y = norm(x).double()
    x = x.double()
    centred = x - x.mean(-1, keepdim=True) if affine.centres else x
    eps = norm.eps if hasattr(norm, "eps") else norm.variance_epsilon
    expected = (centred.pow(2).mean(-1) + eps).rsqrt()
    torch.testing.assert_close(affine.inverse_scale(x, y), expected, atol=1e-5, rtol=1e-5)


def test_active_heads_mean_plus_two_std_by_hand():
    # 8 heads, one at 10: mean 1.25, population std sqrt(12.5 - 1.5625) = 3.307 -> threshold 7.86
    values = torch.zeros(2, 4)
    values[1, 2] = 10
    assert active_heads(values) == [(1, 2)]
    # 9, 8 and six zeros: mean 2.125, std sqrt((81 + 64) / 8 - 4.515625) = 3.689 -> 9.50: none
    values[1, 2], values[0, 1] = 9, 8
    assert active_heads(values) == []
    values = torch.tensor([[0.0] * 10, [0.0] * 8 + [7.0, 6.0]])
    # mean 0.65, std sqrt(85 / 20 - 0.4225) = 1.9564 -> 4.56: both, strongest first
    assert active_heads(values) == [(1, 8), (1, 9)]


def test_active_heads_top_k():
    values = torch.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    assert active_heads(values, "top3") == [(1, 2), (0, 1), (1, 0)]
    assert active_heads(values, "top3", k=1) == [(1, 2)]
    assert active_heads(values, "top3", k=10) == [(1, 2), (0, 1), (1, 0), (0, 2), (1, 1), (0, 0)]
    with pytest.raises(InvalidInputError, match="one prompt"):
        active_heads(values.unsqueeze(0))
    with pytest.raises(InvalidInputError, match="unknown active-head rule"):
        active_heads(values, "top5")  # type: ignore[arg-type]
    assert active_heads(torch.zeros(0, 4)) == []


def test_direct_method_carries_the_residual_scale_of_granite():
    """Granite adds ``residual_multiplier × attn_out`` to the residual: each head's contribution,
    and so its score, carries the multiplier (here 0.37, so a missing factor cannot pass)."""
    from transformers import AutoModelForCausalLM

    from babellens.capture.language_model import LanguageModel
    from models.tiny_configs import shrunken_config

    torch.manual_seed(0)
    config = shrunken_config("granite")
    config.residual_multiplier = 0.37
    hf = AutoModelForCausalLM.from_config(config, dtype=torch.float64).eval()
    lm = LanguageModel(hf, None, name="granite", source="config")
    assert lm.adapter.residual_scale(0) == pytest.approx(0.37)
    layer, neuron = 1, 5
    ids, mask = tiny_inputs(2, 9)
    got = head_attributions(lm, ids, mask, layer, neuron, method="direct")
    block, last = hf.model.layers[layer], mask.sum(1) - 1
    seen = {}

    def grab(_m, args) -> None:
        seen["x"] = args[0][torch.arange(2), last].clone()

    handle = block.post_attention_layernorm.register_forward_pre_hook(grab)
    try:
        acts = _last(lm, ids, mask, [f"attn_z.{i}" for i in range(layer)] + [f"mlp_pre.{layer}"])
    finally:
        handle.remove()
    norm, x = block.post_attention_layernorm, seen["x"]
    inv_rms = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    contributions = 0.37 * torch.stack(
        [_head_outputs(lm, acts[f"attn_z.{i}"], i) for i in range(layer)], 1
    )
    with torch.no_grad():
        direction = norm.weight * block.mlp.gate_proj.weight[neuron]
        expected = torch.einsum("blhd,d->blh", contributions * inv_rms[:, None, None], direction)
        rest = ((x - contributions.sum(dim=(1, 2))) * inv_rms) @ direction
    torch.testing.assert_close(got.values.double(), expected, atol=1e-7, rtol=1e-6)
    gate = acts[f"mlp_pre.{layer}"][:, neuron]
    torch.testing.assert_close(got.values.double().sum(dim=(1, 2)) + rest, gate, atol=1e-6, rtol=0)
