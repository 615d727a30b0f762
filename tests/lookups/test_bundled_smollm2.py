"""Head attribution and ablation on a real model (SmolLM2-135M): the heads that the attribution
ranks first really drive the neuron when they are removed.

What is asserted, and why not more: ablating the top-attributed head lowers the *neuron's
activation* more than ablating random heads do (the attribution's own claim, checked causally).
The downstream claim, that it also lowers the probability of the neuron's token more than random
heads do, held for this neuron (by ~10x) but not for every next-token neuron tried (2 of 6 in the
last quarter failed it, where other components carry the token), so it is pinned to this neuron.
"""

from __future__ import annotations

import pytest
import torch

import babellens
from babellens.analyses.next_token_neurons import effective_output_weights
from babellens.capture import zero_ablate
from babellens.data import load_corpus, make_windows
from babellens.data.batching import pad_batch as _pad
from babellens.data.corpus import Corpus
from babellens.lookups import (
    head_ablation_drop,
    head_attributions,
    last_token_activations,
    token_probabilities,
)

pytestmark = pytest.mark.integration

LAYER, NEURON, WORD = 26, 342, " then"  # the top next-token neuron of layer 26 by congruence
N_PROMPTS, N_RANDOM = 8, 6


@pytest.fixture(scope="module")
def setup():
    lm = babellens.load("smollm2-135m")
    promoted = int((effective_output_weights(lm.adapter, LAYER)[NEURON] @ lm.adapter.w_u).argmax())
    assert lm.tokenizer.decode([promoted]) == WORD
    corpus = load_corpus()
    english = Corpus("en", tuple(d for d in corpus.documents if d.lang == "en"))
    windows = make_windows(english, lm.tokenizer, window_len=48)[:128]
    ids, mask = _pad([list(w.token_ids) for w in windows], lm.tokenizer.pad_token_id)
    point = f"mlp_post.{LAYER}"
    acts = lm.run({"input_ids": ids, "attention_mask": mask}, capture=[point])[point][..., NEURON]
    best, pos = acts.masked_fill(mask == 0, float("-inf")).max(dim=1)
    top = best.argsort(descending=True)[:N_PROMPTS].tolist()
    prompts = [ids[i, : int(pos[i]) + 1].tolist() for i in top]
    return lm, prompts, promoted


def _random_heads(lm, n: int) -> list[tuple[int, int]]:
    gen = torch.Generator().manual_seed(0)
    layers = torch.randint(0, LAYER, (n,), generator=gen).tolist()
    heads = torch.randint(0, lm.adapter.n_heads, (n,), generator=gen).tolist()
    return list(zip(layers, heads, strict=True))


def test_ablating_the_top_attributed_head_lowers_the_neuron_more_than_random_heads(setup):
    lm, prompts, _ = setup
    ids, mask = _pad(prompts, 0)
    got = head_attributions(lm, ids, mask, LAYER, NEURON)
    assert got.method == "gradient" and torch.isfinite(got.values).all()
    assert got.values.shape == (N_PROMPTS, LAYER, lm.adapter.n_heads)
    clean = last_token_activations(lm, prompts, LAYER, NEURON)
    torch.testing.assert_close(got.activation, clean, atol=1e-3, rtol=1e-3)
    assert clean.min() > 2  # max-activating prompts: the neuron fires

    def drop(layer: int, head: int) -> torch.Tensor:
        ablate = zero_ablate(f"attn_z.{layer}", heads=[head])
        return clean - last_token_activations(lm, prompts, LAYER, NEURON, interventions=[ablate])

    n_heads = lm.adapter.n_heads
    tops = [divmod(int(v.argmax()), n_heads) for v in got.values]
    by_head = {head: drop(*head) for head in set(tops)}
    top_drop = torch.stack([by_head[head][i] for i, head in enumerate(tops)])
    random_drop = torch.stack([drop(*head) for head in _random_heads(lm, N_RANDOM)]).mean(0)
    assert (top_drop > 0).all()
    assert (top_drop > random_drop).sum() >= N_PROMPTS - 1
    assert top_drop.mean() > 3 * random_drop.mean()


def test_ablating_the_top_head_lowers_the_token_probability_more_than_random_heads(setup):
    lm, prompts, token = setup
    ids, mask = _pad(prompts, 0)
    values = head_attributions(lm, ids, mask, LAYER, NEURON).values.mean(0)
    top = divmod(int(values.argmax()), lm.adapter.n_heads)
    clean = token_probabilities(lm, prompts, token)
    top_drop = head_ablation_drop(lm, prompts, *top, token, clean=clean).mean()
    random_drop = torch.stack(
        [
            head_ablation_drop(lm, prompts, *h, token, clean=clean)
            for h in _random_heads(lm, N_RANDOM)
        ]
    ).mean()
    assert top_drop > 0 and top_drop >= random_drop
