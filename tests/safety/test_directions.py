import pytest
import torch

from babellens import steering
from babellens.safety import contrast_set, held_out_separation, language_directions, load_concept
from tiny_models import tiny_lm_with_tokenizer


@pytest.fixture(scope="module")
def lm():
    return tiny_lm_with_tokenizer("llama")


@pytest.mark.parametrize("concept", ["refusal", "hallucination"])
def test_directions_equal_the_steering_modules_difference_of_means(lm, concept):
    data = load_concept(concept, "de")
    found = language_directions(lm, data, [0, 1, 2], n=6, batch_size=4)
    contrast = contrast_set(lm, data, "train", 6)
    reference = steering.build(lm, contrast, [0, 1, 2], read="last")
    for layer in (0, 1, 2):
        assert torch.allclose(found.directions[layer], reference.directions[layer], atol=1e-5)
    assert found.pairs == 6


def test_shuffled_control_flips_half_the_pairs(lm):
    data = load_concept("refusal", "en")
    found = language_directions(lm, data, [1], n=8, seed=3)
    assert not torch.allclose(found.shuffled[1], found.directions[1])
    assert found.shuffled[1].norm() < found.directions[1].norm() * 2


def test_held_out_separation_by_hand():
    # pairs 0,1 fit fold A, 2,3 fold B; every positive is the negative moved by +2 along x
    neg = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 2.0], [1.0, 3.0]])
    pos = neg + torch.tensor([2.0, 0.0])
    # held-out projections on x: positives {2, 3}, negatives {0, 1}; spread 0.5 -> d = 2 / 0.5
    assert held_out_separation(pos, neg) == pytest.approx(4.0)


def test_ab_control_is_balanced_within_each_answer_letter(lm):
    from babellens.safety.directions import _control_signs

    data = load_concept("sycophancy", "en")
    signs = _control_signs(data, 14, seed=0)
    # 7 pairs per letter: 3 flipped, 3 kept, the 7th left out (sign 0)
    for group in (signs[0::2], signs[1::2]):
        assert sorted(group.tolist()) == [-1.0] * 3 + [0.0] + [1.0] * 3
        assert group[-1] == 0.0
    # a concept shared by every pair plus the alternating letter direction cancels exactly
    concept, letter = torch.tensor([3.0, 1.0, 0.0]), torch.tensor([0.0, 5.0, 2.0])
    diffs = torch.stack([concept + (letter if i % 2 == 0 else -letter) for i in range(14)])
    assert torch.equal((signs[:, None] * diffs).sum(0), torch.zeros(3))


def test_refusal_control_keeps_the_cross_lingual_signs_and_balances_odd_counts(lm):
    from babellens.crossling.similarity import control_signs
    from babellens.safety.directions import _control_signs

    data = load_concept("refusal", "en")
    assert torch.equal(_control_signs(data, 24, seed=0), control_signs(24, 0, "en"))
    odd = _control_signs(data, 5, seed=0)
    assert odd[-1] == 0.0 and sorted(odd[:4].tolist()) == [-1.0, -1.0, 1.0, 1.0]
