"""The feature scan sharded over Ray actors, merged exactly like the neuron scan.

Features are units: the shards are the neuron scan's (runs of whole local batches), each actor
runs :func:`~babellens.dictionaries.scan.scan_features` on its shards with the dictionary it was
sent once, and the driver folds the shard accumulators together in window order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.data.windows import Window
from babellens.dictionaries.features import check_model_width
from babellens.dictionaries.model import SparseDictionary
from babellens.dictionaries.scan import scan_features
from babellens.errors import InvalidInputError
from babellens.jobs.ray_fanout import FanOutPool, RayOptions
from babellens.jobs.ray_scan import accumulator_states, merge_states, plan_shards

__all__ = ["ray_feature_scan"]


@dataclass(frozen=True)
class _FeatureScanTask:
    members: list[SparseDictionary]
    k: int
    window_len: int
    tokens_per_batch: int

    def bind(self, lm: LanguageModel) -> Callable[[list[Window]], bytes]:
        for sd in self.members:
            check_model_width(sd, lm)

        def scan_shard(windows: list[Window]) -> bytes:
            accs = scan_features(
                lm,
                self.members,
                windows,
                k=self.k,
                window_len=self.window_len,
                tokens_per_batch=self.tokens_per_batch,
                checkpoint_every_s=float("inf"),  # the shard is the unit of retry
            )
            return accumulator_states(dict(enumerate(accs)))

        return scan_shard


def ray_feature_scan(
    model: str,
    members: Sequence[SparseDictionary],
    windows: Sequence[Window],
    *,
    k: int,
    window_len: int,
    tokens_per_batch: int,
    options: RayOptions,
    control: RunControl | None = None,
    dtype: str = "auto",
) -> list[LayerAccumulator]:
    """One accumulator per member, equal to :func:`scan_features` over all ``windows``."""
    if not windows:
        raise InvalidInputError("the corpus produced no tokens to scan")
    shards = plan_shards(windows, tokens_per_batch, options.workers * options.shards_per_worker)
    task = _FeatureScanTask([sd.cpu() for sd in members], k, window_len, tokens_per_batch)
    with FanOutPool(model, task, options, dtype=dtype, control=control, actors=len(shards)) as pool:
        results = pool.map(
            shards,
            phase="shards",
            weights=[sum(w.n_tokens for w in shard) for shard in shards],
            unit="tokens",
        )
    widths = {i: sd.width for i, sd in enumerate(members)}
    merged = merge_states(results, widths, k, window_len)
    return [merged[i] for i in range(len(members))]
