"""The scan equals a brute-force computation over the same batches, and merges/resumes exactly."""

from __future__ import annotations

import pytest
import torch

from babellens.analyses.neuron_scan import fused_stats
from babellens.analyses.neuron_scan.histogram import N_BINS, reference_bin
from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.control import LocalControl, StopRequested
from babellens.data import Corpus, Document, batches, make_windows
from tiny_models import TINY_TEXTS, tiny_lm_with_tokenizer

CONFIG = ScanConfig(k=3, window_len=16, tokens_per_batch=40, checkpoint_every_s=0)


@pytest.fixture(scope="module")
def setup():
    lm = tiny_lm_with_tokenizer("gemma3")
    corpus = Corpus("tiny", tuple(Document(f"d{i}", t) for i, t in enumerate(TINY_TEXTS)))
    windows = make_windows(corpus, lm.tokenizer, window_len=CONFIG.window_len)
    return lm, windows


def _brute_force(lm, windows, layer):
    """Per window, full activations from the same batches; then plain Python reductions."""
    rows = {}
    for batch in batches(windows, tokens_per_batch=CONFIG.tokens_per_batch):
        acts = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=[f"mlp_post.{layer}"],
        )[f"mlp_post.{layer}"]
        for row, w in enumerate(batch.indices.tolist()):
            rows[w] = acts[row, : windows[w].n_tokens]
    return rows


@pytest.fixture(scope="module")
def setup_bf16(setup):
    """The same tiny model in bfloat16: its activations are bfloat16, its statistics must not be."""
    _, windows = setup
    bf16 = tiny_lm_with_tokenizer("gemma3")
    bf16.model.to(torch.bfloat16)
    assert bf16.dtype == torch.bfloat16
    return bf16, windows


# sparse top-k updates with the compiled one-pass statistics (the CPU default) or with tensor
# operations; dense updates (the GPU default) always use tensor operations
BACKENDS = [("sparse", "kernel"), ("sparse", "torch"), ("dense", "torch")]


@pytest.mark.parametrize(("mode", "stats"), BACKENDS)
def test_scan_equals_brute_force(setup, mode, stats):
    _check_equals_brute_force(*setup, mode, stats)


@pytest.mark.parametrize("fixture", ["setup", "setup_bf16"])
def test_the_update_on_our_own_threads_equals_brute_force(fixture, request, monkeypatch):
    """On Linux the compiled update runs in PyTorch's OpenMP team; elsewhere on threads of ours."""
    monkeypatch.setattr(fused_stats, "_RUNNER", "threads")
    assert fused_stats.update_runner() == "threads"
    _check_equals_brute_force(*request.getfixturevalue(fixture), "sparse", "kernel")


@pytest.mark.parametrize(("mode", "stats"), BACKENDS)
def test_bfloat16_scan_keeps_float32_statistics_of_the_bfloat16_activations(
    setup_bf16, mode, stats
):
    lm, windows = setup_bf16
    scan = _check_equals_brute_force(lm, windows, mode, stats)
    acc = scan.accumulators[0]
    assert acc.top_values.dtype == acc.act_max.dtype == torch.float32
    assert acc.act_sum.dtype == torch.float64 and acc.hist.dtype == torch.long
    # the activations really were bfloat16: every kept value is exactly representable in it
    kept = acc.top_values[acc.top_windows >= 0]
    assert kept.numel() and torch.equal(kept, kept.bfloat16().float())
    # and a float32 sum differs from a bfloat16 one: the accumulator kept the former
    per_window = _brute_force(lm, windows, 0)
    tokens = torch.cat([per_window[w] for w in sorted(per_window)])
    assert tokens.dtype == torch.bfloat16
    assert not torch.equal(tokens.sum(0).double(), acc.act_sum)


def _check_equals_brute_force(lm, windows, mode, stats) -> NeuronScan:
    scan = NeuronScan(lm, windows, CONFIG, update_mode=mode, stats=stats)
    assert all(acc.stats == stats for acc in scan.accumulators.values())
    assert scan.run()
    for layer in (0, 2):
        per_window = {w: a.float() for w, a in _brute_force(lm, windows, layer).items()}
        acc = scan.accumulators[layer]
        state = acc.state_dict()
        all_tokens = torch.cat([per_window[w] for w in sorted(per_window)])
        assert int(acc.n_tokens) == all_tokens.shape[0] == sum(w.n_tokens for w in windows)
        torch.testing.assert_close(acc.act_max, all_tokens.amax(0), atol=0, rtol=0)
        torch.testing.assert_close(acc.mean, all_tokens.double().mean(0), atol=1e-6, rtol=1e-6)
        assert torch.equal(acc.n_positive, (all_tokens > 0).sum(0))
        for neuron in (0, 7, 63):
            values = all_tokens[:, neuron]
            hist = torch.zeros(N_BINS, dtype=torch.long)
            for v in values.tolist():
                hist[reference_bin(v)] += 1
            assert torch.equal(acc.hist[neuron], hist)
            ranked = sorted(
                ((float(a[:, neuron].max()), w) for w, a in per_window.items()),
                key=lambda t: (-t[0], t[1]),
            )
            top = ranked[: CONFIG.k]
            assert state["top_windows"][neuron].tolist() == [w for _, w in top]
            assert state["top_values"][neuron].tolist() == [v for v, _ in top]
            for slot, (value, w) in enumerate(top):
                window_acts = per_window[w][:, neuron]
                assert state["top_positions"][neuron, slot] == int(window_acts.argmax())
                stored = state["top_acts"][neuron, slot, : windows[w].n_tokens].float()
                torch.testing.assert_close(stored, window_acts.half().float(), atol=0, rtol=0)
                assert value == float(window_acts.max())
    return scan


class _EveryState(LocalControl):
    """Keeps every state the scan saves, to resume from each of them."""

    def __init__(self) -> None:
        super().__init__()
        self.saved: list[dict[str, torch.Tensor]] = []

    def save_state(self, tensors, meta, done) -> None:
        assert meta == {"kind": "scan"}
        self.saved.append({k: v.clone() for k, v in tensors.items()})


def test_resume_from_any_checkpoint_is_exact(setup):
    lm, windows = setup
    full = NeuronScan(lm, windows, CONFIG)
    full.run()
    recorder = _EveryState()
    NeuronScan(lm, windows, CONFIG).run(recorder)
    saved = recorder.saved
    assert len(saved) > 2
    for state in saved[:-1]:
        resumed = NeuronScan(lm, windows, CONFIG)
        resumed.load_state_dict(state)
        assert not resumed.finished
        resumed.run()
        for key, value in full.state_dict().items():
            assert torch.equal(resumed.state_dict()[key], value), key


def test_stop_early_then_continue(setup):
    lm, windows = setup
    scan = NeuronScan(lm, windows, CONFIG)
    calls = iter(range(100))
    control = LocalControl(stop=lambda: next(calls) >= 2)
    with pytest.raises(StopRequested):
        scan.run(control)
    assert 0 < scan.windows_done < len(windows)
    resumed = NeuronScan(lm, windows, CONFIG)  # a new scan starts from the control's checkpoint
    assert resumed.run(LocalControl(_blob=control._blob)) is True and resumed.finished
    assert resumed.windows_done == len(windows)
    full = NeuronScan(lm, windows, CONFIG)
    full.run()
    for key, value in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_merge_of_shards_is_exact(setup):
    lm, windows = setup
    full = NeuronScan(lm, windows, CONFIG)
    full.run()
    half = next(
        b.indices[0]
        for b in batches(windows, tokens_per_batch=CONFIG.tokens_per_batch)
        if b.indices[0] > 3
    )
    first, second = NeuronScan(lm, windows[:half], CONFIG), NeuronScan(lm, windows, CONFIG)
    first.run()
    second.windows_done = int(half)
    second.run()
    for layer, acc in first.accumulators.items():
        acc.merge(second.accumulators[layer])
        for key, value in full.accumulators[layer].state_dict().items():
            assert torch.equal(acc.state_dict()[key], value), key


def test_bins_match_their_definition():
    import torch

    from babellens.analyses.neuron_scan.histogram import bin_edges, bin_index

    edges = bin_edges().tolist()
    probes = [
        0.0,
        -0.0,
        1e-9,
        -1e-9,
        0.5,
        -0.5,
        1.0,
        -1.0,
        1.4999,
        1.5,
        -1.5,
        511.9,
        512.0,
        -512.0,
        1e6,
        -1e6,
    ]
    probes += (
        [float("inf"), float("-inf"), float("nan")]
        + edges
        + [e * 1.0001 for e in edges]
        + [e * 0.9999 for e in edges]
    )
    got = bin_index(torch.tensor(probes, dtype=torch.float32)).tolist()
    assert got == [reference_bin(float(torch.tensor(p, dtype=torch.float32))) for p in probes]
    assert len(edges) == N_BINS - 1 and edges == sorted(edges)


def test_dense_updates_resume_and_merge_exactly_like_sparse_ones(setup):
    """The GPU strategy (candidates queued, merged every few batches) against the CPU one: equal
    states after every batch boundary a checkpoint can fall on, and after shard merges."""
    lm, windows = setup
    sparse = NeuronScan(lm, windows, CONFIG, update_mode="sparse", stats="torch")
    sparse.run()
    recorder = _EveryState()
    dense = NeuronScan(lm, windows, CONFIG, update_mode="dense")
    assert all(acc.mode == "dense" and acc.merge_every == 4 for acc in dense.accumulators.values())
    dense.run(recorder)
    saved = recorder.saved
    for key, value in sparse.state_dict().items():
        assert torch.equal(dense.state_dict()[key], value), key
    assert len(saved) > 4
    for state in saved[1:-1:3]:
        resumed = NeuronScan(lm, windows, CONFIG, update_mode="dense")
        resumed.load_state_dict(state)
        resumed.run()
        for key, value in sparse.state_dict().items():
            assert torch.equal(resumed.state_dict()[key], value), key
    half = next(
        b.indices[0]
        for b in batches(windows, tokens_per_batch=CONFIG.tokens_per_batch)
        if b.indices[0] > 3
    )
    first = NeuronScan(lm, windows[:half], CONFIG, update_mode="dense")
    first.run()
    second = NeuronScan(lm, windows, CONFIG, update_mode="dense")
    second.windows_done = int(half)
    second.run()
    for layer, acc in first.accumulators.items():
        acc.merge(second.accumulators[layer])
        for key, value in sparse.accumulators[layer].state_dict().items():
            assert torch.equal(acc.state_dict()[key], value), key


def test_device_token_budget_on_a_cpu_is_the_default_batch(setup):
    from babellens.analyses.neuron_scan.scan import device_tokens_per_batch

    lm, _ = setup
    assert device_tokens_per_batch(lm) == 2048 == ScanConfig().tokens_per_batch


def test_the_gpu_histogram_count_equals_bincount():
    """The GPU counts by index_add_ (no host read-back); on the CPU it must equal bincount."""
    from babellens.analyses.neuron_scan.accumulator import _bincount, _scatter_count

    gen = torch.Generator().manual_seed(0)
    indices = torch.randint(0, 72 * 50, (300_000,), generator=gen, dtype=torch.int32)
    expected = torch.bincount(indices, minlength=72 * 50)
    assert torch.equal(_scatter_count(indices, 72 * 50), expected)
    assert torch.equal(_bincount(indices, 72 * 50), expected)  # split over the CPU threads


@pytest.mark.parametrize("fixture", ["setup", "setup_bf16"])
def test_the_compiled_fold_gives_the_state_of_the_tensor_operations(fixture, request):
    """Bit for bit, except the sum: the fold adds in float64, the tensor path in float32."""
    lm, windows = request.getfixturevalue(fixture)
    fused = NeuronScan(lm, windows, CONFIG, stats="kernel")
    plain = NeuronScan(lm, windows, CONFIG, stats="torch")
    fused.run()
    plain.run()
    for layer, acc in fused.accumulators.items():
        reference = plain.accumulators[layer].state_dict()
        for key, value in acc.state_dict().items():
            if key == "act_sum":
                torch.testing.assert_close(value, reference[key], rtol=1e-6, atol=1e-6)
            else:
                assert torch.equal(value, reference[key]), key
