"""The cross-lingual benchmark runs end to end on a tiny model and reports consistent ratios."""

from __future__ import annotations

import pytest

from babellens.bench.crossling import bench_crossling

pytest.importorskip("peft")


def test_bench_crossling_on_a_tiny_model():
    from tiny_models import tiny_lm_with_tokenizer

    lm = tiny_lm_with_tokenizer("llama")
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    result = bench_crossling(lm, rounds=1, prompts=2, new_tokens=3)
    assert result.curve_points == 7 and result.lora_batch == 4
    assert result.lora_ratio == pytest.approx(
        result.lora_completion_loss_s / result.lora_full_loss_s
    )
    assert result.curve_ratio == pytest.approx(result.curve_shared_s / result.curve_separate_s)
    after = lm.model.state_dict()
    assert after.keys() == before.keys()  # the LoRA layers are gone again
    assert all((after[k] == v).all() for k, v in before.items())
