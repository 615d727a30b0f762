"""The ablation's fidelity numbers: P(token) before ablation, log-prob and relative drops, each
against a plain transformers ablation (the head's slice of W_O zeroed) computed here."""

from __future__ import annotations

import math

import torch

from babellens.lookups import head_ablation_drop
from babellens.lookups.report import ExampleRecord, HeadLookup
from babellens.lookups.summary import head_ablation
from tiny_models import tiny_model

LAYER, HEAD, TOKEN = 1, 2, 51


def _probabilities(lm, seqs, token):
    with torch.inference_mode():
        return [lm.model(torch.tensor([s])).logits[0, -1].softmax(-1)[token].item() for s in seqs]


def test_log_and_relative_drops_match_a_plain_transformers_ablation() -> None:
    lm = tiny_model("llama")
    gen = torch.Generator().manual_seed(3)
    seqs = [torch.randint(3, 128, (n,), generator=gen).tolist() for n in (5, 8, 11)]
    clean = _probabilities(lm, seqs, TOKEN)
    attn, hd = lm.model.model.layers[LAYER].self_attn, lm.adapter.head_dim
    saved = attn.o_proj.weight.detach().clone()
    with torch.no_grad():
        attn.o_proj.weight[:, HEAD * hd : (HEAD + 1) * hd] = 0
    ablated = _probabilities(lm, seqs, TOKEN)
    with torch.no_grad():
        attn.o_proj.weight.copy_(saved)
    drops = head_ablation_drop(lm, seqs, LAYER, HEAD, TOKEN).tolist()
    examples = []
    for i, (p, q, d) in enumerate(zip(clean, ablated, drops, strict=True)):
        assert math.isclose(d, p - q, rel_tol=1e-4, abs_tol=1e-7)
        examples.append(
            ExampleRecord(
                split="train",
                window=i,
                text="x",
                n_tokens=len(seqs[i]),
                activation=1.0,
                original=1.0,
                attribution=1.0,
                active=i != 1,
                probability=p,
                ablation_drop=d,
                ablated_probability=p - d,
                logprob_drop=math.log(p) - math.log(p - d),
                relative_drop=d / p,
            )
        )
    head = head_ablation(
        HeadLookup(layer=LAYER, head=HEAD, active_fraction=2 / 3, examples=examples)
    )
    assert head.clean_probability.n == 3
    assert math.isclose(head.clean_probability.mean, sum(clean) / 3, rel_tol=1e-6)
    active = [math.log(clean[i]) - math.log(ablated[i]) for i in (0, 2)]
    assert math.isclose(head.logprob_drop_active.mean, sum(active) / 2, rel_tol=1e-3, abs_tol=1e-6)
    rel = (clean[1] - ablated[1]) / clean[1]
    assert math.isclose(head.relative_drop_inactive.mean, rel, rel_tol=1e-3, abs_tol=1e-6)
