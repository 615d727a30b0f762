"""The scan of mixture-of-experts layers against a brute force from ``expert_post``: every
(expert, neuron) unit's statistics are of the tokens routed to its expert, and its kept windows
show NaN where the router sent a token elsewhere; a shared expert's neurons (Qwen2-MoE) follow
the routed units as ordinary MLP neurons over every token."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from babellens.analyses.neuron_scan.experts import ExpertLayerAccumulator, expert_unit
from babellens.analyses.neuron_scan.histogram import N_BINS, reference_bin
from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.capture.language_model import LanguageModel
from babellens.data import Corpus, Document, batches, make_windows
from babellens.jobs.ray_scan import accumulator_states, merge_states
from models.tiny_configs import shrunken_config
from tiny_models import TINY_TEXTS, byte_tokenizer

CONFIG = ScanConfig(k=3, window_len=16, tokens_per_batch=40, checkpoint_every_s=0)


def _tiny_moe(model_type: str):
    config = shrunken_config(model_type)
    config.vocab_size = 259  # the byte tokenizer's
    torch.manual_seed(0)
    hf = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    lm = LanguageModel(hf, byte_tokenizer(), name="moe", source="config")
    assert lm.adapter.moe_layers == [0, 1]
    corpus = Corpus("tiny", tuple(Document(f"d{i}", t) for i, t in enumerate(TINY_TEXTS)))
    return lm, make_windows(corpus, lm.tokenizer, window_len=CONFIG.window_len)


@pytest.fixture(scope="module", params=["mixtral", "jetmoe", "qwen2_moe"])
def setup(request):
    return _tiny_moe(request.param)


@pytest.fixture(scope="module")
def with_shared():
    """Qwen2-MoE: a shared expert, its output gated per token by a sigmoid, on every layer."""
    return _tiny_moe("qwen2_moe")


def _brute_force(lm, windows, layer, kind="expert_post"):
    """Per window ``[n_tokens, n_experts, d_expert]`` from the same batches (NaN: not routed),
    or ``[n_tokens, d_shared]`` of ``shared_post``."""
    rows = {}
    for batch in batches(windows, tokens_per_batch=CONFIG.tokens_per_batch):
        acts = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=[f"{kind}.{layer}"],
        )[f"{kind}.{layer}"]
        for row, w in enumerate(batch.indices.tolist()):
            rows[w] = acts[row, : windows[w].n_tokens].float()
    return rows


@pytest.mark.parametrize("stats", ["kernel", "torch"])
def test_expert_units_equal_a_brute_force_over_routed_tokens(setup, stats):
    lm, windows = setup
    scan = NeuronScan(lm, windows, CONFIG, stats=stats)
    assert scan.run()
    d_expert = lm.adapter.d_expert
    for layer in (0, 1):
        acc = scan.accumulators[layer]
        assert isinstance(acc, ExpertLayerAccumulator)
        per_window = _brute_force(lm, windows, layer)
        state = acc.state_dict()
        checked = 0
        for unit in (0, d_expert + 3, lm.adapter.n_experts * d_expert - 1):
            e, n = expert_unit(unit, d_expert)
            column = {w: a[:, e, n] for w, a in per_window.items()}
            values = torch.cat([column[w] for w in sorted(column)])
            routed = values[~values.isnan()]
            assert 0 < routed.numel() < values.numel()  # routed to some tokens, not all
            assert int(acc.n_tokens[unit]) == routed.numel() == int(acc.hist[unit].sum())
            assert float(acc.act_max[unit]) == float(routed.max())
            assert float(acc.density[unit]) == pytest.approx(float((routed > 0).double().mean()))
            assert float(acc.mean[unit]) == pytest.approx(float(routed.double().mean()), rel=1e-6)
            hist = torch.zeros(N_BINS, dtype=torch.long)
            for v in routed.tolist():
                hist[reference_bin(v)] += 1
            assert torch.equal(acc.hist[unit], hist)
            seen = {w: c[~c.isnan()] for w, c in column.items() if (~c.isnan()).any()}
            ranked = sorted(
                ((float(c.max()), w) for w, c in seen.items()), key=lambda t: (-t[0], t[1])
            )
            top = ranked[: CONFIG.k]
            assert state["top_windows"][unit, : len(top)].tolist() == [w for _, w in top]
            for slot, (_, w) in enumerate(top):
                stored = state["top_acts"][unit, slot, : windows[w].n_tokens].float()
                expected = column[w].half().float()
                assert torch.equal(stored.isnan(), expected.isnan())  # NaN: routed elsewhere
                assert torch.equal(stored.nan_to_num(7.0), expected.nan_to_num(7.0))
                assert int(state["top_positions"][unit, slot]) == int(
                    expected.nan_to_num(-1e9).argmax()
                )
                checked += 1
        assert checked > 0


def test_shared_expert_units_follow_the_routed_ones_over_every_token(with_shared):
    lm, windows = with_shared
    a = lm.adapter
    assert a.shared_layers == [0, 1]
    scan = NeuronScan(lm, windows, CONFIG)
    scan.run()
    acc = scan.accumulators[1]
    routed_units = a.n_experts * a.d_expert
    assert acc.d_mlp == routed_units + a.d_shared(1)
    per_window = _brute_force(lm, windows, 1, "shared_post")
    tokens = torch.cat([per_window[w] for w in sorted(per_window)])
    units = slice(routed_units, acc.d_mlp)
    assert torch.equal(acc.n_tokens[units], torch.full((a.d_shared(1),), tokens.shape[0]))
    assert torch.equal(acc.act_max[units], tokens.amax(0))
    torch.testing.assert_close(acc.mean[units], tokens.double().mean(0), atol=1e-6, rtol=1e-6)
    state = acc.state_dict()
    for n in (0, a.d_shared(1) - 1):
        ranked = sorted(
            ((float(t[:, n].max()), w) for w, t in per_window.items()), key=lambda x: (-x[0], x[1])
        )
        assert state["top_windows"][routed_units + n].tolist() == [w for _, w in ranked[: CONFIG.k]]
        assert not state["top_acts"][routed_units + n].isnan().any()  # every token: no gaps


def _same(a: torch.Tensor, b: torch.Tensor) -> None:
    """Equal, NaN (a token routed elsewhere) where the other is NaN."""
    torch.testing.assert_close(a, b, atol=0, rtol=0, equal_nan=True)


def test_resume_and_shard_merge_of_expert_layers_are_exact(setup):
    lm, windows = setup
    whole = NeuronScan(lm, windows, CONFIG)
    whole.run()
    expected = whole.state_dict()
    resumed = NeuronScan(lm, windows, CONFIG)
    first = next(iter(resumed.batches()))
    resumed.step(first)
    again = NeuronScan(lm, windows, CONFIG)
    again.load_state_dict(resumed.state_dict())
    again.run()
    for key, value in again.state_dict().items():
        _same(value, expected[key])
    half = int(first.indices[-1]) + 1  # the second shard starts at a batch boundary
    shards = [NeuronScan(lm, windows[:half], CONFIG), NeuronScan(lm, windows, CONFIG)]
    shards[1].windows_done = half
    for shard in shards:
        shard.run()
    merged = merge_states(
        [accumulator_states(s.accumulators) for s in shards], dict.fromkeys([0, 1], 0), 3, 16
    )
    for layer in (0, 1):
        state = merged[layer].state_dict()
        for key, value in whole.accumulators[layer].state_dict().items():
            _same(state[key], value)
