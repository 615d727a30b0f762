"""The precision benchmark on a tiny model: its agreement measures against hand computations."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.bench.precision import bench_precision, scan_agreement, spearman
from babellens.bench.scan import repeated_windows
from tiny_models import tiny_lm_with_tokenizer


def test_spearman_against_hand_ranks():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(x, x * 10 + 3) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    # ranks [0 1 2 3 4] vs [1 0 2 3 4]: rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert spearman(x, torch.tensor([2.0, 1.0, 3.0, 4.0, 5.0])) == pytest.approx(0.9)


def test_scan_agreement_of_a_scan_with_itself_and_with_a_changed_one():
    lm = tiny_lm_with_tokenizer("llama")
    windows = repeated_windows(lm, 600, window_len=16)
    config = ScanConfig(k=3, window_len=16, tokens_per_batch=64)
    a, b = NeuronScan(lm, windows, config), NeuronScan(lm, windows, config)
    a.run()
    b.run()
    same = scan_agreement(a, b)
    assert same.topk_overlap_mean == same.topk_identical_fraction == 1.0
    assert same.max_relative_change_median == 0.0 and same.chance_overlap == round(
        3 / len(windows), 4
    )
    acc = b.accumulators[0]
    acc.top_windows[5, 1:] = -1  # neuron 5 keeps one of its three windows
    acc.top_windows[7, 1] = 10_000  # neuron 7 loses one window
    changed = scan_agreement(a, b)
    n = changed.neurons
    assert changed.neurons == lm.adapter.n_layers * lm.adapter.d_mlp
    assert changed.topk_overlap_mean == pytest.approx(round(1 - (2 / 3 + 1 / 3) / n, 4))
    assert changed.topk_identical_fraction == pytest.approx(round(1 - 2 / n, 4))


def test_bench_precision_runs_on_a_tiny_model():
    fp32 = tiny_lm_with_tokenizer("llama")
    bf16 = tiny_lm_with_tokenizer("llama")
    bf16.model.to(torch.bfloat16)
    result = bench_precision(fp32, bf16, tokens=3000)
    assert result.dtypes == ["float32", "bfloat16"]
    rates = result.tokens_per_s
    assert result.ratios["bfloat16.scan / float32.scan"] == pytest.approx(
        rates["bfloat16.scan"] / rates["float32.scan"], abs=1e-3
    )
    assert 0 < result.scan.topk_overlap_mean <= 1 and result.scan.neurons == 3 * 64
    assert set(result.next_token.spearman_per_layer) == {2}
    assert -1 <= result.next_token.spearman_per_layer[2] <= 1
