"""Shared by the job tests: a small mixed-language corpus (the tiny model folder is global)."""

from __future__ import annotations

import json
import random

import pytest

from tiny_models import TINY_TEXTS


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(120):
            text = " ".join(rng.choice(TINY_TEXTS) for _ in range(3))
            fh.write(json.dumps({"id": f"d{i}", "text": text, "split": "train"}) + "\n")
    return str(path)
