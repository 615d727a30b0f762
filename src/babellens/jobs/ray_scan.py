"""Neuron scans sharded over Ray actors, merged into exactly the result of a local scan.

The corpus windows are cut into the same token-budget batches a local scan uses, and the batches
into contiguous shards, so every window is computed in the same batch, with the same padding, as it
would be locally. The shards are the items of a :class:`~babellens.jobs.ray_fanout.FanOutPool`:
each actor loads the model once and folds the shards it is given into fresh accumulators; the
driver merges the shard results in window order (``LayerAccumulator.merge`` is exact for windows
that come later), so top-k sets, values and histograms equal the local scan's. The feature scan
(:mod:`babellens.jobs.ray_feature_scan`) shards and merges the same way.

A shard whose actor dies is handed to a new actor and recomputed; a cancel kills the actors, and
the shards already merged stay in the job's checkpoint for the resume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.analyses.neuron_scan.experts import ExpertLayerAccumulator
from babellens.analyses.neuron_scan.scan import NeuronScan, ScanConfig
from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, batches
from babellens.errors import InvalidInputError
from babellens.jobs.ray_fanout import FanOutPool, RayOptions, import_ray
from babellens.models.precision import dtype_name, resolve_dtype

__all__ = [
    "RayOptions",
    "RayScanResult",
    "accumulator_states",
    "import_ray",
    "merge_states",
    "plan_shards",
    "ray_scan",
]


@dataclass
class RayScanResult:
    accumulators: dict[int, LayerAccumulator | ExpertLayerAccumulator]
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


@dataclass(frozen=True)
class _NeuronScanTask:
    config: dict[str, Any]

    def bind(self, lm: LanguageModel) -> Callable[[list[Window]], bytes]:
        config = ScanConfig(**self.config)

        def scan_shard(windows: list[Window]) -> bytes:
            scan = NeuronScan(lm, windows, config)
            pad = resolve_pad_id(lm.tokenizer)
            for batch in batches(
                windows, tokens_per_batch=config.tokens_per_batch, pad_id=pad or 0
            ):
                scan.step(batch)
            return accumulator_states(scan.accumulators)

        return scan_shard


def accumulator_states(accumulators: Mapping[int, LayerAccumulator]) -> bytes:
    """One shard's accumulators as safetensors bytes, keys ``"{layer}.{name}"``."""
    return save_tensors(
        {
            f"{layer}.{k}": v
            for layer, acc in accumulators.items()
            for k, v in acc.state_dict().items()
        }
    )


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
    if not windows:
        raise InvalidInputError("the corpus produced no tokens to scan")
    shards = plan_shards(
        windows, config.tokens_per_batch, options.workers * options.shards_per_worker
    )
    # "auto" is resolved once: every worker runs in the same dtype, whatever its hardware.
    pinned = config.model_copy(update={"dtype": dtype_name(resolve_dtype(config.dtype, device))})
    task = _NeuronScanTask(pinned.model_dump())
    with FanOutPool(
        model, task, options, dtype=pinned.dtype, device=device, control=control, actors=len(shards)
    ) as pool:
        summary = pool.start()
        results = pool.map(
            shards,
            phase="shards",
            weights=[sum(w.n_tokens for w in shard) for shard in shards],
            unit="tokens",
            on_dispatch=on_dispatch,
        )
    layers = (
        sorted(set(config.layers))
        if config.layers is not None
        else list(range(summary["n_layers"]))
    )
    merged = merge_states(
        results, dict.fromkeys(layers, summary["d_mlp"]), config.k, config.window_len
    )
    return RayScanResult(merged, summary, shards=len(shards), retries=sum(pool.retries.values()))


def _accumulator_for(
    state: Mapping[str, torch.Tensor], width: int, k: int, window_len: int
) -> LayerAccumulator | ExpertLayerAccumulator:
    """An empty accumulator of the kind that saved ``state`` (a mixture-of-experts layer's state
    says its layout)."""
    if "layout" not in state:
        return LayerAccumulator(width, k, window_len, "cpu")
    return ExpertLayerAccumulator.like(dict(state), k, window_len)


def merge_states(
    results: Sequence[bytes], widths: Mapping[int, int], k: int, window_len: int
) -> dict[int, LayerAccumulator | ExpertLayerAccumulator]:
    """Shard states (in window order) folded together; ``widths``: units per layer or member."""
    merged: dict[int, LayerAccumulator | ExpertLayerAccumulator] = {}
    for result in results:
        state = load_tensors(result)
        for layer, width in widths.items():
            prefix = f"{layer}."
            own = {
                key.removeprefix(prefix): v for key, v in state.items() if key.startswith(prefix)
            }
            part = _accumulator_for(own, width, k, window_len)
            part.load_state_dict(own)
            if layer in merged:
                merged[layer].merge(part)
            else:
                merged[layer] = part
    return merged
