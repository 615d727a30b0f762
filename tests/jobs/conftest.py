"""Shared by the job tests: a small mixed-language corpus (the tiny model folder is global), and
a local Ray instance for the modules that shard on Ray."""

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


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs, on loopback only; one per module (a start costs ~10 s)."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        _node_ip_address="127.0.0.1",  # the test cluster listens on loopback only
    )
    yield
    ray.shutdown()
