"""From a scan's accumulators to what the store keeps: plain tensors per layer.

The store takes :class:`~babellens.store.results.LayerScan` (tensors), never an accumulator, so
it depends on no analysis; this is the one place that reads an accumulator for the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.analyses.neuron_scan.experts import ExpertLayerAccumulator
from babellens.data.corpus import Corpus
from babellens.data.windows import Window
from babellens.store.database import Database
from babellens.store.results import LayerScan, ResultStore

__all__ = ["layer_scan", "save_scan"]


def layer_scan(acc: LayerAccumulator | ExpertLayerAccumulator) -> LayerScan:
    """The accumulator's state in canonical top-k order (its ``state_dict`` flushes first, so the
    mean and density are read after every queued candidate is in)."""
    state = acc.state_dict()
    return LayerScan(
        act_max=state["act_max"],
        mean=acc.mean,
        density=acc.density,
        hist=state["hist"],
        top_values=state["top_values"],
        top_windows=state["top_windows"],
        top_positions=state["top_positions"],
        top_acts=state["top_acts"],
    )


def save_scan(
    db: Database,
    job_id: int,
    accumulators: Mapping[int, LayerAccumulator | ExpertLayerAccumulator],
    windows: Sequence[Window],
    corpus: Corpus,
) -> None:
    """Replace the job's stored scan: every layer's statistics, then the windows they cite."""
    results = ResultStore(db)
    results.clear_scan(job_id)
    used: set[int] = set()
    for layer, acc in accumulators.items():
        results.save_layer(job_id, layer, layer_scan(acc))
        used.update(int(w) for w in acc.top_windows.flatten().tolist() if w >= 0)
    results.save_windows(job_id, windows, corpus, used)
