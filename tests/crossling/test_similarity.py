"""Concept vectors per language: the cosine matrices and the shuffled-label control."""

from __future__ import annotations

import pytest
import torch

from babellens.capture.language_model import load
from babellens.crossling import concept_similarity, cosine_matrix, language_vectors
from babellens.steering import build
from babellens.steering.concepts import get_concept


def test_cosine_matrix_is_symmetric_with_ones_on_the_diagonal_and_matches_by_hand():
    a, b, c = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor([0.0, -2.0])
    m = cosine_matrix([a, b, c])
    expected = [[1, 2**-0.5, 0], [2**-0.5, 1, -(2**-0.5)], [0, -(2**-0.5), 1]]
    assert torch.allclose(
        torch.tensor(m, dtype=torch.float64),
        torch.tensor(expected, dtype=torch.float64),
        atol=1e-12,
    )
    big = cosine_matrix(list(torch.randn(5, 64, generator=torch.Generator().manual_seed(0))))
    for i in range(5):
        assert big[i][i] == 1.0
        for j in range(5):
            assert big[i][j] == big[j][i]


@pytest.fixture(scope="module")
def vectors(model_folder):
    lm = load(model_folder)
    return lm, [language_vectors(lm, "caps", lang, [0, 1], pairs=6) for lang in ("en", "de", "ru")]


def test_language_vectors_equal_the_steering_modules_mean_difference(vectors):
    lm, built = vectors
    reference = build(
        lm, get_concept("caps-de").contrast(lm.tokenizer).head(6), [0, 1], read="completion_mean"
    )
    for layer in (0, 1):
        assert torch.allclose(
            built[1].vector.directions[layer], reference.directions[layer], atol=1e-5
        )
        # the shuffled control flips some pairs, so it is a different, shorter vector
        assert built[1].shuffled[layer].norm() < built[1].vector.directions[layer].norm()


def test_similarity_matrices_per_layer_are_symmetric_with_ones_on_the_diagonal(vectors):
    _lm, built = vectors
    sim = concept_similarity("caps", built)
    assert sim.langs == ["en", "de", "ru"] and sim.layers == [0, 1] and sim.pairs == 6
    for matrices in (sim.cosine, sim.control):
        for layer in (0, 1):
            m = matrices[layer]
            assert [m[i][i] for i in range(3)] == [1.0, 1.0, 1.0]
            assert all(m[i][j] == m[j][i] for i in range(3) for j in range(3))
    manual = torch.nn.functional.cosine_similarity(
        built[0].vector.directions[1], built[2].vector.directions[1], dim=0
    )
    assert sim.cosine[1][0][2] == pytest.approx(float(manual), abs=1e-5)


def test_control_signs_are_balanced_reproducible_and_drawn_per_language():
    from babellens.crossling import control_signs

    en, en_again, de = (
        control_signs(40, 0, "en"),
        control_signs(40, 0, "en"),
        control_signs(40, 0, "de"),
    )
    odd = control_signs(7, 0, "en")
    assert float(en.sum()) == 0.0 and float(odd.sum()) == 0.0
    assert odd[-1] == 0.0 and sorted(odd[:6].tolist()) == [-1.0] * 3 + [1.0] * 3
    assert torch.equal(en, en_again) and not torch.equal(en, de)
    # a concept shared by every pair cancels exactly in the control
    shared = torch.randn(16)
    diffs = shared.expand(40, 16) + 0.0
    assert torch.allclose((en[:, None] * diffs).mean(0), torch.zeros(16), atol=1e-6)
