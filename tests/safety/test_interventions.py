import torch

from babellens.safety import ablation_interventions, project_out
from tiny_models import tiny_lm_with_tokenizer


def _points(n_layers: int) -> list[str]:
    return ["resid_pre.0", *(f"resid_post.{layer}" for layer in range(n_layers))]


def test_projecting_out_leaves_the_residual_orthogonal_at_every_layer():
    lm = tiny_lm_with_tokenizer("qwen2")
    enc = lm.tokenize(["Write a kind note.", "Hi"])
    unit = torch.randn(lm.adapter.d_model, generator=torch.Generator().manual_seed(0))
    unit = unit / unit.norm()
    units = unit.expand(2, -1)
    points = _points(lm.adapter.n_layers)
    plain = lm.run(enc, capture=points)
    edited = lm.run(
        enc, capture=points, interventions=ablation_interventions(lm.adapter.n_layers, units)
    )
    for point in points:
        before = plain[point].float() @ unit
        after = edited[point].float() @ unit
        assert before.abs().max() > 1e-2  # there was something to remove
        assert after.abs().max() < 1e-5


def test_projecting_out_a_direction_orthogonal_to_the_activations_changes_nothing():
    lm = tiny_lm_with_tokenizer("llama")
    enc = lm.tokenize(["abc"])  # bos + 3 bytes: 4 positions x 4 points = 16 vectors in 32 dims
    points = _points(lm.adapter.n_layers)
    plain = lm.run(enc, capture=points, logits=True)
    stacked = torch.cat([plain[p][0].double() for p in points])
    _, _, v = torch.linalg.svd(stacked, full_matrices=True)
    unit = v[-1].float()  # in the null space of every activation
    assert (stacked.float() @ unit).abs().max() < 1e-5
    edited = lm.run(
        enc, interventions=ablation_interventions(lm.adapter.n_layers, unit[None]), logits=True
    )
    assert torch.allclose(edited.logits, plain.logits, atol=1e-5)


def test_zero_rows_are_left_alone():
    x = torch.randn(2, 3, 4)
    units = torch.stack([torch.tensor([1.0, 0, 0, 0]), torch.zeros(4)])
    out = project_out("resid_post.0", units).apply(x, "resid_post")
    assert torch.equal(out[1], x[1])
    assert torch.allclose(out[0, :, 0], torch.zeros(3))
    assert torch.equal(out[0, :, 1:], x[0, :, 1:])
