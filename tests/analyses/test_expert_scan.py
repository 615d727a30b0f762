"""The scan of mixture-of-experts layers against a brute force from ``expert_post``: every
(expert, neuron) unit's statistics are of the tokens routed to its expert, and its kept windows
show NaN where the router sent a token elsewhere."""

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


@pytest.fixture(scope="module", params=["mixtral", "jetmoe"])
def setup(request):
    config = shrunken_config(request.param)
    config.vocab_size = 259  # the byte tokenizer's
    torch.manual_seed(0)
    hf = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    lm = LanguageModel(hf, byte_tokenizer(), name="moe", source="config")
    assert lm.adapter.moe_layers == [0, 1]
    corpus = Corpus("tiny", tuple(Document(f"d{i}", t) for i, t in enumerate(TINY_TEXTS)))
    return lm, make_windows(corpus, lm.tokenizer, window_len=CONFIG.window_len)


def _brute_force(lm, windows, layer):
    """Per window ``[n_tokens, n_experts, d_expert]`` from the same batches (NaN: not routed)."""
    rows = {}
    for batch in batches(windows, tokens_per_batch=CONFIG.tokens_per_batch):
        acts = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=[f"expert_post.{layer}"],
        )[f"expert_post.{layer}"]
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
        for unit in (0, d_expert + 3, acc.d_mlp - 1):
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
