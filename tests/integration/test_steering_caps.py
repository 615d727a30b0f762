"""On a real model the CAPS vector makes answers upper-case, more so the larger the coefficient."""

from __future__ import annotations

import pytest

from babellens import load, steering
from babellens.steering.library import eval_inputs
from babellens.steering.metrics import uppercase_fraction

pytestmark = pytest.mark.integration


def test_caps_vector_raises_the_uppercase_fraction_monotonically():
    lm = load("smollm2-135m")
    vector = steering.build(
        lm, steering.concept_contrast("caps", lm), layers=[8], read="completion_mean"
    )
    assert vector.info.n_examples == 60 and vector.info.diff_cosine[8] > 0.8
    prompts, _ = eval_inputs(lm, "en", 6)
    fractions = []
    for coefficient in (0.0, 0.5, 1.0, 1.5):
        outputs = steering.generate(lm, prompts, vector, coefficient, max_new_tokens=20, seed=0)
        values = [uppercase_fraction(o) for o in outputs]
        fractions.append(sum(values) / len(values))
    assert fractions == sorted(fractions), fractions
    assert fractions[0] < 0.1 and fractions[-1] > 0.8, fractions
    control = steering.random_like(vector, seed=0)
    outputs = steering.generate(lm, prompts, control, 1.5, max_new_tokens=20)
    assert (
        sum(uppercase_fraction(o) for o in outputs) / len(outputs) < 0.2
    )  # a random push of that size does not
