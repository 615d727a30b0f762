"""The demo's featured neuron: the best follow rate among congruent neurons, checked by hand."""

from __future__ import annotations

import json
import random

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.analyses.next_token_neurons import NextTokenConfig
from babellens.cli.demo_cmd import featured_neuron
from babellens.jobs import run_job
from babellens.store import JobStore, ResultStore, open_database
from tiny_models import TINY_TEXTS, save_tiny_folder


def test_featured_neuron_has_the_best_follow_rate_and_a_random_control(tmp_path):
    model = str(save_tiny_folder(tmp_path / "tiny", "llama"))
    corpus = tmp_path / "corpus.jsonl"
    rng = random.Random(0)
    with corpus.open("w") as fh:
        for i in range(40):
            text = " ".join(rng.choice(TINY_TEXTS) for _ in range(3))
            fh.write(json.dumps({"id": f"d{i}", "text": text, "split": "train"}) + "\n")
    db = open_database(f"sqlite:///{tmp_path / 'demo.db'}")
    jobs = JobStore(db)
    scan = jobs.create(
        "scan", model, ScanConfig(corpus=str(corpus), k=6, window_len=24).model_dump()
    )
    assert run_job(db, scan.id).status == "done"
    tokens = jobs.create("next_token_neurons", model, NextTokenConfig(layers=[2]).model_dump())
    assert run_job(db, tokens.id).status == "done"
    results = ResultStore(db)
    best, control = featured_neuron(results, scan.id, tokens.id, 64, candidates=30, min_examples=3)
    # by hand: every candidate's rate, from the stored examples and promoted tokens
    rates = {}
    for n in results.top_token_neurons(tokens.id, None, 30):
        record = results.neuron(scan.id, n.layer, n.neuron, lambda ids: [""] * len(ids))
        if record.max <= 0:  # never fired: not a candidate
            continue
        promoted = {t.token_id for t in n.promoted}
        pairs = [
            (ex.token_ids[ex.position + 1] in promoted)
            for ex in record.examples
            if ex.position + 1 < len(ex.token_ids)
        ]
        if len(pairs) >= 3:
            rates[n.neuron] = sum(pairs) / len(pairs)
    assert rates and best.fraction == max(rates.values())
    assert best.neuron == next(
        k for k, v in rates.items() if v == best.fraction
    )  # first: most congruent
    assert control.layer == best.layer == 2 and control.neuron != best.neuron
    assert 0 <= control.followed <= control.examples
