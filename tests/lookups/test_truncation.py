"""Truncation against brute force: every suffix run alone, unpadded, the shortest one kept."""

from __future__ import annotations

import functools

import pytest
import torch

from babellens.capture import zero_ablate
from babellens.errors import InvalidInputError
from babellens.lookups import last_token_activations, truncate
from tiny_models import tiny_lm_with_tokenizer, tiny_model

LAYER = 2


@functools.cache
def _lm():
    return tiny_model("llama")


def _alone(lm, ids: list[int], neuron: int) -> float:
    """The neuron at the last token of ``ids``, one unpadded sequence per forward pass."""
    acts = lm.run(torch.tensor([ids]), capture=[f"mlp_post.{LAYER}"])[f"mlp_post.{LAYER}"]
    return float(acts[0, -1, neuron])


def _brute_force(lm, ids: list[int], neuron: int, ratio: float, max_tokens: int) -> int | None:
    acts = [_alone(lm, ids[len(ids) - k :], neuron) for k in range(1, len(ids) + 1)]
    for k, act in enumerate(acts, start=1):
        if act >= ratio * acts[-1] and k <= max_tokens:
            return k
    return None


def _cases(n_prompts: int = 3, length: int = 24, per_prompt: int = 3):
    """Random prompts and, for each, the neurons that fire most at its last token."""
    lm = _lm()
    gen = torch.Generator().manual_seed(3)
    for _ in range(n_prompts):
        ids = torch.randint(3, 128, (length,), generator=gen).tolist()
        full = lm.run(torch.tensor([ids]), capture=[f"mlp_post.{LAYER}"])[f"mlp_post.{LAYER}"]
        for neuron in full[0, -1].topk(per_prompt).indices.tolist():
            yield ids, neuron


def test_exact_truncation_is_the_shortest_suffix_meeting_the_ratio():
    lm = _lm()
    lengths, binary_longer = [], 0
    for ids, neuron in _cases():
        expected = _brute_force(lm, ids, neuron, 0.8, 100)
        got = truncate(lm, ids, LAYER, neuron, batch_size=3)  # several passes of growing size
        assert got is not None and len(got.ids) == expected
        assert got.ids == ids[len(ids) - expected :]
        assert got.activation == pytest.approx(_alone(lm, got.ids, neuron), abs=1e-6)
        assert got.original == pytest.approx(_alone(lm, ids, neuron), abs=1e-6)
        assert got.activation >= 0.8 * got.original
        paper = truncate(lm, ids, LAYER, neuron, method="binary")
        assert paper is not None and paper.activation >= 0.8 * paper.original
        assert len(paper.ids) >= expected
        binary_longer += len(paper.ids) > expected
        lengths.append(expected)
    assert max(lengths) > 2  # some answers need several tokens of context ...
    assert binary_longer > 0  # ... and activation is not monotone in length: binary search misses


def test_ratio_and_max_tokens():
    lm = _lm()
    ids, neuron = next(iter(_cases(1)))
    for ratio in (0.3, 0.95, 1.0):
        expected = _brute_force(lm, ids, neuron, ratio, 100)
        got = truncate(lm, ids, LAYER, neuron, ratio=ratio)
        assert got is not None and len(got.ids) == expected
    shortest = _brute_force(lm, ids, neuron, 0.95, 100)
    assert shortest > 1
    assert truncate(lm, ids, LAYER, neuron, ratio=0.95, max_tokens=shortest - 1) is None
    got = truncate(lm, ids, LAYER, neuron, ratio=0.95, max_tokens=shortest)
    assert got is not None and len(got.ids) == shortest


def test_a_leading_bos_stays_in_front_of_every_suffix():
    lm = tiny_lm_with_tokenizer("llama")
    ids = lm.tokenize("The quick brown fox jumps")["input_ids"][0].tolist()
    bos = lm.tokenizer.bos_token_id
    assert ids[0] == bos
    full = lm.run(torch.tensor([ids]), capture=[f"mlp_post.{LAYER}"])[f"mlp_post.{LAYER}"]
    neuron = int(full[0, -1].argmax())
    acts = [_alone(lm, [bos, *ids[len(ids) - k :]], neuron) for k in range(1, len(ids))]
    expected = next(k for k, a in enumerate(acts, 1) if a >= 0.8 * acts[-1])
    got = truncate(lm, ids, LAYER, neuron)
    assert got.ids == [bos, *ids[len(ids) - expected :]]
    without = truncate(lm, ids, LAYER, neuron, keep_bos=False)
    assert without.ids == ids[len(ids) - _brute_force(lm, ids, neuron, 0.8, 100) :]
    assert truncate(lm, ids, LAYER, neuron, max_tokens=1) is None  # BOS alone leaves no room


def test_last_token_activations_ignore_padding_and_keep_order():
    lm = _lm()
    gen = torch.Generator().manual_seed(0)
    seqs = [torch.randint(3, 128, (n,), generator=gen).tolist() for n in (7, 2, 11, 1, 5)]
    got = last_token_activations(lm, seqs, LAYER, 9, batch_size=2)
    expected = torch.tensor([_alone(lm, s, 9) for s in seqs])
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    silenced = zero_ablate(f"mlp_post.{LAYER}", neurons=[9])
    assert not last_token_activations(lm, seqs, LAYER, 9, interventions=[silenced]).any()
    ablated = last_token_activations(
        lm, seqs, LAYER, 9, interventions=[zero_ablate(f"attn_z.{LAYER}", heads=[0])]
    )
    assert (ablated - got).abs().max() > 1e-6  # the own layer's head 0 feeds the neuron


def test_bad_arguments_are_user_errors():
    lm = _lm()
    with pytest.raises(InvalidInputError, match="empty"):
        truncate(lm, [], LAYER, 0)
    with pytest.raises(InvalidInputError, match="unknown truncation method"):
        truncate(lm, [5, 6], LAYER, 0, method="linear")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="empty"):
        last_token_activations(lm, [[4], []], LAYER, 0)
    with pytest.raises(InvalidInputError, match="layer"):
        last_token_activations(lm, [[4]], 7, 0)
