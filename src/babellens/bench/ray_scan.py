"""Scan throughput on Ray with 1 and 2 workers against the local runner, in one run.

Each configuration scans the same windows of the bundled corpus; the Ray rates include starting
the workers and loading the model in each (as a user sees it), the local rate does not (the model
is already loaded), so the ratio is a lower bound on Ray's steady-state throughput.
"""

from __future__ import annotations

import time

import torch
from pydantic import BaseModel

from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.capture.language_model import load
from babellens.data.corpus import load_corpus
from babellens.data.windows import make_windows
from babellens.jobs.ray_scan import RayOptions, import_ray, ray_scan

__all__ = ["RayBenchResult", "bench_ray_scan"]


class RayBenchResult(BaseModel):
    model: str
    tokens: int
    local_threads: int
    local_tokens_per_s: float
    ray_1_tokens_per_s: float
    ray_2_tokens_per_s: float
    ray_1_ratio: float
    ray_2_ratio: float


def bench_ray_scan(model: str = "smollm2-135m", tokens: int = 8192) -> RayBenchResult:
    ray = import_ray()
    lm = load(model)
    windows = make_windows(
        load_corpus("babel-mini", split="train"), lm.tokenizer, window_len=128, max_tokens=tokens
    )
    config = ScanConfig(max_tokens=tokens, checkpoint_every_s=3600)
    n = sum(w.n_tokens for w in windows)
    start = time.perf_counter()
    NeuronScan(lm, windows, config).run()
    local = n / (time.perf_counter() - start)
    rates = {}
    for workers in (1, 2):
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1",
        )
        try:
            options = RayOptions(
                address="local",
                workers=workers,
                threads_per_worker=2 // workers,
                shards_per_worker=2,
            )
            start = time.perf_counter()
            ray_scan(model, windows, config, options)
            rates[workers] = n / (time.perf_counter() - start)
        finally:
            ray.shutdown()
    return RayBenchResult(
        model=model,
        tokens=n,
        local_threads=torch.get_num_threads(),
        local_tokens_per_s=local,
        ray_1_tokens_per_s=rates[1],
        ray_2_tokens_per_s=rates[2],
        ray_1_ratio=rates[1] / local,
        ray_2_ratio=rates[2] / local,
    )
