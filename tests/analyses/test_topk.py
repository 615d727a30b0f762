"""The one running top-k, against a brute-force sort of everything seen."""

from __future__ import annotations

import torch

from babellens.analyses.topk import RunningTopK, merge_top_k, top_k_order


def _brute(values: torch.Tensor, windows: torch.Tensor, k: int) -> list[list[tuple[float, int]]]:
    """Per row: every (value, window) pair sorted by value desc, window asc, the first k."""
    out = []
    for row in range(values.shape[0]):
        pairs = sorted(
            zip(values[row].tolist(), windows.tolist(), strict=True), key=lambda p: (-p[0], p[1])
        )
        out.append(pairs[:k])
    return out


def test_running_top_k_equals_brute_force_with_ties():
    gen = torch.Generator().manual_seed(3)
    rows, k, n_windows = 6, 5, 40
    # coarse values so ties are common: the window order must break them
    values = torch.randint(0, 6, (rows, n_windows), generator=gen).float()
    positions = torch.randint(0, 9, (rows, n_windows), generator=gen)
    windows = torch.arange(n_windows)
    top = RunningTopK(rows, k)
    for start in range(0, n_windows, 7):  # uneven batches, in window order
        stop = min(start + 7, n_windows)
        top.update(values[:, start:stop], windows[start:stop], positions[:, start:stop])
    expected = _brute(values, windows, k)
    for row in range(rows):
        got = list(zip(top.values[row].tolist(), top.windows[row].tolist(), strict=True))
        assert got == expected[row]
        assert top.positions[row].tolist() == [positions[row, w].item() for _, w in expected[row]]


def test_fewer_candidates_than_k_leave_empty_slots_last():
    top = RunningTopK(1, 4)
    top.update(torch.tensor([[2.0, 7.0]]), torch.tensor([10, 11]), torch.tensor([[0, 1]]))
    assert top.values.tolist() == [[7.0, 2.0, float("-inf"), float("-inf")]]
    assert top.windows.tolist() == [[11, 10, -1, -1]] and top.positions.tolist() == [[1, 0, -1, -1]]


def test_merge_carries_payloads_of_any_shape():
    values = torch.tensor([[1.0, 3.0, 3.0, 2.0]])
    windows = torch.tensor([[4, 9, 2, 0]])
    acts = torch.arange(4 * 3).view(1, 4, 3)
    assert top_k_order(values, windows).tolist() == [[2, 1, 3, 0]]
    kept_values, kept_windows, kept_acts = merge_top_k(2, values, windows, acts)
    assert kept_values.tolist() == [[3.0, 3.0]] and kept_windows.tolist() == [[2, 9]]
    assert kept_acts.tolist() == [[[6, 7, 8], [3, 4, 5]]]
