"""The compiled one-pass fold equals plain tensor reductions, bit for bit where it must."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.neuron_scan.fused_stats import fold_batch_stats, kernel_available
from babellens.analyses.neuron_scan.histogram import N_BINS, bin_index

pytestmark = pytest.mark.skipif(not kernel_available(), reason="numba is not installed")


def _activations(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """[3, 7, 150] activations over many octaves (150 neurons: two threads get unequal
    ranges, and the last block is partial), with padding in two rows."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 7, 150, generator=gen) * torch.logspace(-4, 3, 150)
    x[0, 0, :5] = torch.tensor([0.0, -0.0, 600.0, -700.0, float("inf")])
    real = torch.ones(3, 7, dtype=torch.bool)
    real[1, 5:] = False
    real[2, 1:] = False
    return x.to(dtype), real


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_fold_equals_plain_reductions(dtype, threads, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    x, real = _activations(dtype)
    hist = torch.full((150, N_BINS), 5, dtype=torch.long)  # counts are added to what is there
    act_sum = torch.full((150,), 0.25, dtype=torch.float64)
    batch_max = fold_batch_stats(x, real, hist, act_sum)

    values = x.float()
    masked = values.masked_fill(~real.unsqueeze(-1), float("-inf"))
    assert batch_max.dtype == torch.float32
    assert torch.equal(batch_max, masked.amax(dim=1))
    tokens = values[real]  # [real tokens, 150]
    expected = torch.full((150, N_BINS), 5, dtype=torch.long)
    bins = bin_index(tokens)
    for neuron in range(150):
        expected[neuron] += torch.bincount(bins[:, neuron], minlength=N_BINS)
    assert torch.equal(hist, expected)
    torch.testing.assert_close(act_sum, 0.25 + tokens.double().sum(0), rtol=1e-12, atol=0)


def test_the_fold_reads_bfloat16_without_rounding():
    """A bfloat16 value's maximum comes back as exactly that value in float32."""
    x = torch.tensor([[[1.0 + 2**-7], [3.0]]]).to(torch.bfloat16).expand(1, 2, 1).contiguous()
    hist = torch.zeros((1, N_BINS), dtype=torch.long)
    act_sum = torch.zeros(1, dtype=torch.float64)
    batch_max = fold_batch_stats(x, torch.ones(1, 2, dtype=torch.bool), hist, act_sum)
    assert batch_max.item() == 3.0 and act_sum.item() == 1.0 + 2**-7 + 3.0
