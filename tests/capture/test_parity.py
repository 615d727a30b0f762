"""Every hook point agrees with a plain transformers computation, for every family (tiny models),
in float32 and in bfloat16."""

from __future__ import annotations

import pytest
import torch

from parity_checks import (
    ALL_BATCH_CHECKS,
    check_early_stop,
    check_residual_stream,
    check_unembedding,
    check_value_weights_single_token,
)
from tiny_models import FAMILIES, tiny_inputs, tiny_model

TOL = 1e-5
TOL_BF16 = 2**-7
"""Two bfloat16 ulps at 1 (absolute and relative). Against plain transformers run in bfloat16 the
captures are exact (the hooks change no arithmetic: see the test below); the checks that rebuild
a hook point by hand from the weights (heads × W_O, neurons × W_out, W_in and the activation) round
differently from transformers' fused kernels, by at most one bfloat16 ulp on these models."""


def _inputs():
    ids, mask = tiny_inputs()
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(params=FAMILIES)
def tiny_bf16(request: pytest.FixtureRequest):
    lm = tiny_model(request.param)
    lm.model.to(torch.bfloat16)
    assert lm.dtype == torch.bfloat16
    return lm


@pytest.mark.parametrize("check", ALL_BATCH_CHECKS, ids=lambda c: c.__name__)
def test_parity(tiny, check):
    check(tiny, _inputs(), TOL)


@pytest.mark.parametrize("check", ALL_BATCH_CHECKS, ids=lambda c: c.__name__)
def test_parity_bfloat16(tiny_bf16, check):
    check(tiny_bf16, _inputs(), TOL_BF16)


@pytest.mark.parametrize("check", [check_residual_stream, check_unembedding])
def test_bfloat16_captures_are_exactly_plain_transformers_in_bfloat16(tiny_bf16, check):
    check(tiny_bf16, _inputs(), 0.0)


def test_value_weights_single_token(tiny):
    check_value_weights_single_token(tiny, TOL)


def test_value_weights_single_token_bfloat16(tiny_bf16):
    check_value_weights_single_token(tiny_bf16, TOL_BF16)


def test_early_stop_captures_exactly_what_a_full_pass_captures(tiny):
    check_early_stop(tiny, _inputs())


def test_early_stop_is_exact_in_bfloat16_too(tiny_bf16):
    check_early_stop(tiny_bf16, _inputs())
