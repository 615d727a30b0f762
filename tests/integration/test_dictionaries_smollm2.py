"""A small SAE and a small transcoder trained on smollm2-135m reach a stated held-out FVU.

CPU-sized budgets (a few thousand tokens, two epochs from the disk cache): the thresholds are
what such a budget reaches with margin (docs/dictionaries.md has the measured values), far
from a random dictionary (FVU ≈ 1) and from the published bands of billion-token trainings.
"""

from __future__ import annotations

import pytest

import babellens
from babellens.dictionaries import DictTrainParams
from babellens.dictionaries.pipeline import evaluate_on_corpus, train

pytestmark = pytest.mark.integration

BUDGET = dict(width=1152, k=32, tokens=6000, epochs=2, cache=True, batch_size=256, lr=1e-3)


def _train_and_evaluate(params: DictTrainParams):
    lm = babellens.load("smollm2-135m")
    trained = train(lm, params)
    (ev,) = evaluate_on_corpus(lm, trained.dictionaries, corpus="babel-mini", tokens=1024)
    return ev


def test_small_residual_sae_reaches_fvu_035_and_recovers_half_the_ce_loss():
    ev = _train_and_evaluate(DictTrainParams(hook="resid_post.15", **BUDGET))
    assert ev.l0 == pytest.approx(32, abs=0.5)
    # measured at this 6k-token budget: FVU 0.29, CE recovered vs zero ablation 0.57
    # (0.08 and 0.77 with 8k tokens and full batches, docs/dictionaries.md)
    assert ev.fvu < 0.35
    assert ev.ce_recovered_vs_zero > 0.5


def test_small_mlp_transcoder_beats_removing_the_mlp():
    ev = _train_and_evaluate(DictTrainParams(kind="transcoder", layers=[15], **BUDGET))
    assert ev.l0 == pytest.approx(32, abs=0.5)
    assert ev.fvu < 0.97  # measured 0.91: 12k rows teach a transcoder little (docs/dictionaries.md)
    assert ev.kl_spliced < ev.kl_zero_ablated  # measured 0.075 against 0.135 nats/token
