"""A small mixed-language corpus file for the explain job tests."""

from __future__ import annotations

import json
import random

import pytest
from tests.tiny_models import TINY_TEXTS


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(60):
            text = " ".join(rng.choice(TINY_TEXTS) for _ in range(3))
            fh.write(json.dumps({"id": f"d{i}", "text": text, "split": "train"}) + "\n")
    return str(path)
