"""The update run by PyTorch's OpenMP team equals the one on our own threads, bit for bit."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from babellens.analyses.neuron_scan import fused_stats, omp_team
from babellens.analyses.neuron_scan.fused_stats import fold_and_insert, kernel_available
from babellens.analyses.neuron_scan.histogram import N_BINS
from babellens.analyses.neuron_scan.team_update import run_update_in_team

pytestmark = pytest.mark.skipif(not kernel_available(), reason="numba is not installed")
on_linux = pytest.mark.skipif(sys.platform != "linux", reason="PyTorch uses GNU OpenMP on Linux")


def _state(d_mlp: int, k: int, length: int) -> dict[str, torch.Tensor]:
    return {
        "hist": torch.zeros((d_mlp, N_BINS), dtype=torch.long),
        "act_sum": torch.zeros(d_mlp, dtype=torch.float64),
        "top_values": torch.full((d_mlp, k), float("-inf")),
        "top_windows": torch.full((d_mlp, k), -1, dtype=torch.long),
        "top_positions": torch.full((d_mlp, k), -1, dtype=torch.long),
        "top_acts": torch.zeros((d_mlp, k, length), dtype=torch.float16),
    }


@on_linux
def test_the_team_is_the_openmp_runtime_pytorch_loaded():
    team = omp_team.team()
    assert team is not None
    assert team.library.resolve().is_relative_to(torch.__path__[0])
    assert fused_stats.update_runner() == "team"


@on_linux
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_team_and_own_threads_keep_the_same_state(dtype, threads, monkeypatch):
    """Five batches into a k = 3 store (inserts in every batch), 200 neurons: with 5 threads
    the last range is partial and with 3 one block is left over; padding in some rows."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    d_mlp, k, length, batch = 200, 3, 9, 4
    gen = torch.Generator().manual_seed(threads)
    states = {runner: _state(d_mlp, k, length) for runner in ("team", "threads")}
    for step in range(5):
        x = (torch.randn(batch, length, d_mlp, generator=gen) * (1 + step)).to(dtype)
        real = torch.rand(batch, length, generator=gen) > 0.2
        ids = torch.arange(step * batch, (step + 1) * batch)
        got = {r: fold_and_insert(x, real, ids, states[r], runner=r) for r in states}
        assert torch.equal(got["team"][0], got["threads"][0])
        assert got["team"][1] == got["threads"][1] > 0
    for key, value in states["team"].items():
        assert torch.equal(value, states["threads"][key]), key
    assert int(states["team"]["hist"].sum()) > 0


@on_linux
def test_a_mismatched_array_is_refused_before_any_address_is_handed_over():
    team = omp_team.team()
    assert team is not None
    d_mlp, k, length = 64, 2, 4
    state = {key: value.numpy() for key, value in _state(d_mlp, k, length).items()}
    arrays = {
        "bits": np.zeros((1, length, d_mlp), np.uint16),
        "real": np.ones((1, length), np.bool_),
        "table": np.zeros(1024, np.int32),
        "window_ids": np.zeros(1, np.int64),
        "batch_max": np.zeros((1, d_mlp), np.float32),
        "hist": state["hist"],
        "total": state["act_sum"],
        "top_values": state["top_values"],
        "top_windows": state["top_windows"],
        "top_positions": state["top_positions"],
        "top_acts": state["top_acts"].view(np.uint16),
        "occupant": np.full((d_mlp, k), -1, np.int32),
    }
    kernels = fused_stats._require()
    bad = {**arrays, "top_positions": state["top_positions"].astype(np.int32)}
    with pytest.raises(ValueError, match="top_positions: expected contiguous int64"):
        run_update_in_team(team, kernels.update_range, 16, 6, bad, 2)
    bad = {**arrays, "batch_max": np.zeros((1, 2 * d_mlp), np.float32)[:, ::2]}
    with pytest.raises(ValueError, match="batch_max"):
        run_update_in_team(team, kernels.update_range, 16, 6, bad, 2)
    run_update_in_team(team, kernels.update_range, 16, 6, arrays, 2)  # the right ones run
    assert int(arrays["hist"].sum()) == length * d_mlp


def test_without_gnu_openmp_the_update_keeps_its_own_threads(monkeypatch):
    monkeypatch.setattr(omp_team, "team", lambda: None)
    assert fused_stats.update_runner() == "threads"
    state = _state(70, 2, 3)
    x = torch.randn(2, 3, 70)
    batch_max, taken = fold_and_insert(
        x, torch.ones(2, 3, dtype=torch.bool), torch.arange(2), state
    )
    assert torch.equal(batch_max, x.amax(dim=1)) and taken == 140
