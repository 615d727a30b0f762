"""Max-activating prompts: the targeted pass against a window-by-window recomputation, and a
finished scan's top windows against the targeted pass."""

from __future__ import annotations

import json
import random

import pytest
import torch

from babellens.analyses.neuron_scan.scan import ScanConfig
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows
from babellens.jobs import cached_model, run_job
from babellens.lookups.prompts_data import MaxPrompt, collect_prompts
from babellens.store import JobStore, open_database
from babellens.store.lookups_inputs import StoredLookupsInputs
from tiny_models import TINY_TEXTS

TARGETS = [(1, 3), (2, 5), (2, 0), (2, 63)]


@pytest.fixture
def corpus(tmp_path) -> str:
    path = tmp_path / "c.jsonl"
    rng = random.Random(0)  # no two windows alike: no ties for batching noise to reorder
    words = [w for t in TINY_TEXTS for w in t.split()]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(8):
            text = " ".join(rng.choice(words) for _ in range(20))
            fh.write(
                json.dumps({"id": f"d{i}", "text": text, "lang": "xx", "split": "train"}) + "\n"
            )
    return str(path)


def _brute_force(lm, windows, k):
    """Per target: (value, window, position) of its top ``k`` windows, one forward per window."""
    rows = {t: [] for t in TARGETS}
    for w in windows:
        out = lm.run(torch.tensor([w.token_ids]), capture=["mlp_post.1", "mlp_post.2"])
        for layer, neuron in TARGETS:
            acts = out[f"mlp_post.{layer}"][0, :, neuron]
            first = 1 if w.has_bos else 0
            pos = int(acts[first:].argmax()) + first
            rows[(layer, neuron)].append((float(acts[pos]), w.index, pos))
    return {t: sorted(r, key=lambda x: (-x[0], x[1]))[:k] for t, r in rows.items()}


def test_targeted_pass_matches_window_by_window(model_folder, corpus):
    lm = cached_model(model_folder)
    windows = make_windows(load_corpus(corpus), lm.tokenizer, window_len=16)
    assert windows[0].has_bos
    found = collect_prompts(
        lm, windows, TARGETS, 4, tokens_per_batch=64, doc_info=lambda d: (f"doc{d}", "xx")
    )
    brute = _brute_force(lm, windows, 4)
    for target in TARGETS:
        expected, got = brute[target], found[target]
        assert [(p.window, p.position) for p in got] == [(w, pos) for _, w, pos in expected]
        assert [p.value for p in got] == pytest.approx([v for v, _, _ in expected], abs=1e-5)
        for p in got:
            w = windows[p.window]
            assert p.token_ids == w.token_ids[: p.position + 1] and p.position >= 1
            assert (p.doc_id, p.lang) == (f"doc{w.doc_index}", "xx")
            assert MaxPrompt.from_json(json.loads(json.dumps(p.to_json()))) == p


def test_a_matching_scan_gives_the_same_prompts(model_folder, corpus, tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    config = ScanConfig(corpus=corpus, window_len=16, k=6, layers=[1, 2], checkpoint_every_s=0)
    job = JobStore(db).create("scan", model_folder, config.model_dump())
    assert run_job(db, job.id).status == "done"
    kw = {"corpus": corpus, "split": "train", "window_len": 16, "max_tokens": None}
    assert StoredLookupsInputs(db).find_scan(model_folder, layers=[1, 2], k=5, **kw) == job.id
    assert (
        StoredLookupsInputs(db).find_scan(model_folder, layers=[1, 2], k=7, **kw) is None
    )  # too few kept
    assert (
        StoredLookupsInputs(db).find_scan(model_folder, layers=[0, 2], k=5, **kw) is None
    )  # layer 0 not scanned
    assert (
        StoredLookupsInputs(db).find_scan(model_folder, layers=[2], k=5, **{**kw, "window_len": 32})
        is None
    )
    assert (
        StoredLookupsInputs(db).find_scan(model_folder, layers=[2], k=5, **{**kw, "split": "test"})
        is None
    )
    lm = cached_model(model_folder)
    windows = make_windows(load_corpus(corpus, split="train"), lm.tokenizer, window_len=16)
    from_scan = StoredLookupsInputs(db).prompts_from_scan(job.id, TARGETS, 5, has_bos=True)
    passed = collect_prompts(lm, windows, TARGETS, 5, doc_info=lambda d: (f"d{d}", "xx"))
    for target, prompts in from_scan.items():  # the exact ones agree with the targeted pass
        assert [(p.window, p.position, p.token_ids) for p in prompts] == [
            (p.window, p.position, p.token_ids) for p in passed[target]
        ]
        assert [p.value for p in prompts] == pytest.approx(
            [p.value for p in passed[target]], abs=1e-4
        )
    for target in TARGETS:  # left out exactly when a kept example peaks at BOS
        examples = StoredLookupsInputs(db).prompts_from_scan(job.id, [target], 5, has_bos=False)[
            target
        ]
        assert (target in from_scan) == all(p.position > 0 for p in examples)
