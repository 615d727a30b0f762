"""Neuron scans sharded over Ray actors, merged into exactly the result of a local scan.

The corpus windows are cut into the same token-budget batches a local scan uses, and the batches
into contiguous shards, so every window is computed in the same batch, with the same padding, as it
would be locally. Each actor loads the model once and folds the shards it is given into fresh
accumulators; the driver merges the shard results in window order (``LayerAccumulator.merge`` is
exact for windows that come later), so top-k sets, values and histograms equal the local scan's.

A shard whose actor dies is handed to a new actor and recomputed; a cancel kills the actors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, batches
from babellens.errors import BabelLensError, InvalidInputError
from babellens.models.precision import dtype_name, resolve_dtype

__all__ = ["RayOptions", "RayScanResult", "import_ray", "plan_shards", "ray_scan"]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BabelLensError("the ray executor needs Ray: pip install 'babellens[ray]'") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None or "local": start a local instance; "auto" or ray://host:port
    workers: int = 2
    threads_per_worker: int = 1
    gpus_per_worker: float = 0.0
    shards_per_worker: int = 2
    max_retries: int = 3


@dataclass
class RayScanResult:
    accumulators: dict[int, LayerAccumulator]
    model_summary: dict[str, Any]
    shards: int
    retries: int


def plan_shards(
    windows: Sequence[Window], tokens_per_batch: int, n_shards: int
) -> list[list[Window]]:
    """Contiguous runs of whole local batches, as even in tokens as the batches allow."""
    cuts: list[int] = [0]
    sizes: list[int] = []
    for batch in batches(windows, tokens_per_batch=tokens_per_batch):
        cuts.append(cuts[-1] + len(batch.indices))
        sizes.append(int(batch.attention_mask.sum()))
    total, target, shards, start, acc = sum(sizes), sum(sizes) / max(1, n_shards), [], 0, 0
    for b, size in enumerate(sizes):
        acc += size
        if acc >= target * (len(shards) + 1) - 1e-9 and len(shards) < n_shards - 1:
            shards.append(list(windows[cuts[start] : cuts[b + 1]]))
            start = b + 1
    if cuts[start] < len(windows):
        shards.append(list(windows[cuts[start] :]))
    assert sum(len(s) for s in shards) == len(windows) and total >= 0
    return shards


def _worker_class(ray: Any) -> Any:
    @ray.remote(max_concurrency=2)  # a second thread answers small calls while a shard runs
    class ScanWorker:
        """Loads the model once; scans the shards it is sent."""

        def __init__(self, model: str, config: dict[str, Any], threads: int, device: str) -> None:
            import os

            import torch

            from babellens.capture.language_model import load

            torch.set_num_threads(threads)
            self.pid = os.getpid()
            self.config = ScanConfig(**config)
            self.lm = load(model, device=device, dtype=self.config.dtype)

        def process_id(self) -> int:
            return self.pid

        def summary(self) -> dict[str, Any]:
            data = self.lm.summary().model_dump()
            data.pop("hook_points", None)
            return data

        def scan(self, windows: list[Window]) -> bytes:
            scan = NeuronScan(self.lm, windows, self.config)
            pad = resolve_pad_id(self.lm.tokenizer)
            for batch in batches(
                windows, tokens_per_batch=self.config.tokens_per_batch, pad_id=pad or 0
            ):
                scan.step(batch)
            state = {
                f"{layer}.{k}": v
                for layer, acc in scan.accumulators.items()
                for k, v in acc.state_dict().items()
            }
            return save_tensors(state)

    return ScanWorker


def _connect(ray: Any, options: RayOptions) -> None:
    if ray.is_initialized():
        return
    if options.address in (None, "local"):
        ray.init(
            num_cpus=options.workers * options.threads_per_worker,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1",  # a cluster we start ourselves listens on loopback only
        )
    else:
        ray.init(address=options.address, log_to_driver=False, configure_logging=False)


def ray_scan(
    model: str,
    windows: Sequence[Window],
    config: ScanConfig,
    options: RayOptions,
    *,
    control: RunControl | None = None,
    on_dispatch: Callable[[list[Any]], None] | None = None,
    device: str = "cpu",
) -> RayScanResult:
    """Scan ``windows`` on Ray: the merged accumulators per layer, and the model summary (read from
    a worker, so the driver never loads the weights). ``on_dispatch`` sees the actors once work is
    out (the fault tests kill one there)."""
    if options.workers < 1:
        raise InvalidInputError("the ray executor needs at least one worker")
    if not windows:
        raise InvalidInputError("the corpus produced no tokens to scan")
    ray = import_ray()
    _connect(ray, options)
    shards = plan_shards(
        windows, config.tokens_per_batch, options.workers * options.shards_per_worker
    )
    pool = _ShardPool(ray, model, config, options, device, shards)
    try:
        summary = pool.start()
        layers = (
            sorted(set(config.layers))
            if config.layers is not None
            else list(range(summary["n_layers"]))
        )
        results = pool.run(control or LocalControl(), on_dispatch)
    finally:
        pool.close()
    merged = _merge(results, layers, summary["d_mlp"], config)
    return RayScanResult(merged, summary, shards=len(shards), retries=sum(pool.retries.values()))


class _ShardPool:
    """The actors of one sharded scan: shards handed to idle actors, a dead actor's shard handed
    to a replacement (at most ``max_retries`` times), progress in tokens, a stop between waits."""

    def __init__(
        self,
        ray: Any,
        model: str,
        config: ScanConfig,
        options: RayOptions,
        device: str,
        shards: list[list[Window]],
    ) -> None:
        self.ray, self.model, self.options, self.shards = ray, model, options, shards
        self._worker = _worker_class(ray).options(
            num_cpus=options.threads_per_worker, num_gpus=options.gpus_per_worker
        )
        # "auto" is resolved here, once: every worker runs in the same dtype, whatever its hardware.
        pinned = config.model_copy(
            update={"dtype": dtype_name(resolve_dtype(config.dtype, device))}
        )
        self._args = (model, pinned.model_dump(), options.threads_per_worker, device)
        self.tokens = [sum(w.n_tokens for w in shard) for shard in shards]
        self.retries = dict.fromkeys(range(len(shards)), 0)
        self.actors: list[Any] = []

    def _spawn(self) -> Any:
        return self._worker.remote(*self._args)

    def start(self) -> dict[str, Any]:
        """Start the actors; the model summary comes from the first (its load errors, too)."""
        from ray.exceptions import RayActorError, WorkerCrashedError

        self.actors.extend(
            self._spawn() for _ in range(min(self.options.workers, len(self.shards)))
        )
        try:
            return self.ray.get(self.actors[0].summary.remote())
        except (RayActorError, WorkerCrashedError) as exc:
            raise BabelLensError(
                f"the Ray workers could not load {self.model}: {str(exc).splitlines()[-1][:200]}"
            ) from None

    def run(
        self, control: RunControl, on_dispatch: Callable[[list[Any]], None] | None
    ) -> dict[int, bytes]:
        results: dict[int, bytes] = {}
        queue, idle = list(range(len(self.shards))), list(self.actors)
        running: dict[Any, tuple[int, Any]] = {}  # object ref -> (shard, actor)
        total, done, dispatched = sum(self.tokens), 0, False
        while queue or running:
            while queue and idle:
                actor, shard = idle.pop(), queue.pop(0)
                running[actor.scan.remote(self.shards[shard])] = (shard, actor)
            if not dispatched and on_dispatch is not None:
                dispatched = True
                on_dispatch(self.actors)
            ready, _ = self.ray.wait(list(running), num_returns=1, timeout=0.5)
            if control.should_stop():
                raise StopRequested
            for ref in ready:
                shard, actor = running.pop(ref)
                if self._collect(ref, shard, actor, results, queue, idle):
                    done += self.tokens[shard]
                    control.progress(done, total, "tokens")
        return results

    def _collect(
        self,
        ref: Any,
        shard: int,
        actor: Any,
        results: dict[int, bytes],
        queue: list[int],
        idle: list[Any],
    ) -> bool:
        """Keep a finished shard's state (True), or requeue it on a fresh actor (False)."""
        from ray.exceptions import RayActorError, WorkerCrashedError

        try:
            results[shard] = self.ray.get(ref)
        except (RayActorError, WorkerCrashedError) as exc:
            self.retries[shard] += 1
            if self.retries[shard] > self.options.max_retries:
                raise BabelLensError(
                    f"shard {shard} failed {self.retries[shard]} times: {str(exc).splitlines()[0]}"
                ) from None
            queue.insert(0, shard)
            replacement = self._spawn()
            self.actors[self.actors.index(actor)] = replacement
            idle.append(replacement)
            return False
        idle.append(actor)
        return True

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


def _merge(
    results: dict[int, bytes], layers: Sequence[int], d_mlp: int, config: ScanConfig
) -> dict[int, LayerAccumulator]:
    """Shard states folded together in window order."""
    merged: dict[int, LayerAccumulator] = {}
    for shard in sorted(results):
        state = load_tensors(results[shard])
        for layer in layers:
            part = LayerAccumulator(d_mlp, config.k, config.window_len, "cpu")
            prefix = f"{layer}."
            part.load_state_dict(
                {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            )
            if layer in merged:
                merged[layer].merge(part)
            else:
                merged[layer] = part
    return merged
