"""Every hook point agrees with a plain transformers computation, for every family (tiny models)."""

from __future__ import annotations

import pytest

from parity_checks import ALL_BATCH_CHECKS, check_early_stop, check_value_weights_single_token
from tiny_models import tiny_inputs

TOL = 1e-5


def _inputs():
    ids, mask = tiny_inputs()
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("check", ALL_BATCH_CHECKS, ids=lambda c: c.__name__)
def test_parity(tiny, check):
    check(tiny, _inputs(), TOL)


def test_value_weights_single_token(tiny):
    check_value_weights_single_token(tiny, TOL)


def test_early_stop_captures_exactly_what_a_full_pass_captures(tiny):
    check_early_stop(tiny, _inputs())
