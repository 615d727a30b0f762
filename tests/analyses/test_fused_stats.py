"""The compiled one-pass fold equals plain tensor reductions, bit for bit where it must."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.neuron_scan.fused_stats import (
    fold_batch_stats,
    insert_top_k,
    kernel_available,
)
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
    torch.testing.assert_close(act_sum, 0.25 + tokens.double().sum(0), rtol=1e-6, atol=1e-6)
    assert torch.equal(act_sum, 0.25 + tokens.double().sum(0).float().double())


def test_the_fold_reads_bfloat16_without_rounding():
    """A bfloat16 value's maximum comes back as exactly that value in float32."""
    x = torch.tensor([[[1.0 + 2**-7], [3.0]]]).to(torch.bfloat16).expand(1, 2, 1).contiguous()
    hist = torch.zeros((1, N_BINS), dtype=torch.long)
    act_sum = torch.zeros(1, dtype=torch.float64)
    batch_max = fold_batch_stats(x, torch.ones(1, 2, dtype=torch.bool), hist, act_sum)
    assert batch_max.item() == 3.0 and act_sum.item() == 1.0 + 2**-7 + 3.0


@pytest.mark.parametrize("threads", [1, 2])
def test_top_k_insertion_keeps_what_the_shared_order_keeps(threads, monkeypatch):
    """Ties on value keep the earlier window, empty slots fill first, unordered slots."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    from babellens.analyses.topk import merge_top_k

    gen = torch.Generator().manual_seed(1)
    k, neurons = 4, 130
    kept_values = torch.randint(0, 5, (neurons, k), generator=gen).float()
    kept_windows = torch.randperm(neurons * k, generator=gen).view(neurons, k) % 37
    kept_values[:3, 2:] = float("-inf")  # three neurons with two empty slots
    kept_windows[:3, 2:] = -1
    batch_max = torch.randint(0, 5, (6, neurons), generator=gen).float()  # many ties
    window_ids = torch.arange(40, 46)
    expected = merge_top_k(
        k,
        torch.cat([kept_values, batch_max.T], dim=1),
        torch.cat([kept_windows, window_ids.expand(neurons, -1)], dim=1),
    )
    values, windows = kept_values.clone(), kept_windows.clone()
    rows, slots, batch_rows = insert_top_k(batch_max, window_ids, values, windows)
    for neuron in range(neurons):
        got = sorted(zip(values[neuron].tolist(), windows[neuron].tolist(), strict=True))
        want = sorted(zip(*(t[neuron].tolist() for t in expected), strict=True))
        assert got == want, neuron
    assert torch.equal(windows[rows, slots], window_ids[batch_rows])
    untouched = torch.ones_like(values, dtype=torch.bool)
    untouched[rows, slots] = False
    assert torch.equal(windows[untouched], kept_windows[untouched])
    assert 0 < rows.numel() < neurons * k


def _halfway_values() -> torch.Tensor:
    """float32 values where float16 rounding is delicate: ties to even on both sides, the
    subnormal range and its ties, the edge of overflow, signed zeros and infinities."""
    ulp = 2.0**-10
    values = [
        1.0 + ulp / 2,  # tie, rounds down to even
        1.0 + 3 * ulp / 2,  # tie, rounds up to even
        1.0 + ulp / 2 + 2**-20,  # just past the tie
        2.0**-14,  # smallest normal half
        2.0**-15 + 2.0**-25,  # subnormal, a tie
        3 * 2.0**-25,  # subnormal tie, rounds up to even
        2.0**-25,  # tie with zero, rounds to zero
        2.0**-25 * 1.0001,  # just past it: the smallest subnormal
        2.0**-30,  # far below: zero
        65504.0,  # largest half
        65519.0,  # rounds down to it
        65520.0,  # the tie to 2^16: infinity
        1e30,
        float("inf"),
        -0.0,
        0.0,
    ]
    values += [-v for v in values[:13]]
    return torch.tensor(values, dtype=torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kept_examples_are_what_half_and_argmax_give(dtype):
    """The first batch fills every slot: each kept window's row equals ``.half()`` of its
    activations (padding 0) and its position the first argmax, as torch computes them."""
    from babellens.analyses.neuron_scan.fused_stats import fold_and_insert

    values = _halfway_values()
    gen = torch.Generator().manual_seed(3)
    neurons, length, batch = 70, values.numel(), 2
    x = values[torch.stack([torch.randperm(length, generator=gen) for _ in range(batch * neurons)])]
    x = x.view(batch, neurons, length).transpose(1, 2).contiguous().to(dtype)
    x[1, 3:6] = x[1, 2]  # ties on the maximum: the first position counts
    real = torch.ones(batch, length, dtype=torch.bool)
    real[1, -4:] = False
    state = {
        "hist": torch.zeros((neurons, N_BINS), dtype=torch.long),
        "act_sum": torch.zeros(neurons, dtype=torch.float64),
        "top_values": torch.full((neurons, 2), float("-inf")),
        "top_windows": torch.full((neurons, 2), -1, dtype=torch.long),
        "top_positions": torch.zeros((neurons, 2), dtype=torch.long),
        "top_acts": torch.full((neurons, 2, length), 7.0, dtype=torch.float16),
    }
    _, taken = fold_and_insert(x, real, torch.arange(batch), state)
    assert taken == neurons * batch
    masked = x.float().masked_fill(~real.unsqueeze(-1), float("-inf"))
    for neuron in range(neurons):
        for slot in range(2):
            window = int(state["top_windows"][neuron, slot])
            want = x[window, :, neuron].float().masked_fill(~real[window], 0).half()
            got = state["top_acts"][neuron, slot]
            assert torch.equal(got.view(torch.int16), want.view(torch.int16)), (neuron, slot)
            assert state["top_positions"][neuron, slot] == masked[window, :, neuron].argmax()
