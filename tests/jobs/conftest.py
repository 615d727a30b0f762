"""Shared by the job tests: a tiny model folder and a small mixed-language corpus."""

from __future__ import annotations

import json
import random

import pytest

from tiny_models import TINY_TEXTS, save_tiny_folder


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return str(save_tiny_folder(tmp_path_factory.mktemp("model") / "tiny", "llama"))


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(120):
            text = " ".join(rng.choice(TINY_TEXTS) for _ in range(3))
            fh.write(json.dumps({"id": f"d{i}", "text": text, "split": "train"}) + "\n")
    return str(path)
