"""The training harvest on Ray: worker actors run the model over chunks of the shuffling plan.

The trainer's data order is fixed by the source's chunk plan (a seeded permutation of the
windows, cut into chunks), never by which worker finishes first: each chunk is one item of a
:class:`~babellens.jobs.ray_fanout.FanOutPool`, a worker runs exactly the windows of that chunk
through :func:`~babellens.dictionaries.activations.harvest_rows` (the same batches and padding
as a local run), and the driver takes the chunks back in plan order into the same shuffle. So
training on Ray gives the weights of the local run, bit for bit at equal thread counts.

Workers run ahead of the trainer by a bounded number of chunks. The pool keeps no checkpoint of
its own: the trainer's checkpoint records the next chunk, and a resumed job (on Ray or locally,
the format is the same) asks for the chunks from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl
from babellens.data.windows import Window
from babellens.dictionaries.activations import harvest_rows
from babellens.jobs.ray_fanout import FanOutPool, RayOptions

__all__ = ["RayHarvester"]

_Item = tuple[tuple[str, ...], int, list[Window]]
"""One chunk to harvest: the hook points, tokens per forward batch, the chunk's windows."""


@dataclass(frozen=True)
class _HarvestTask:
    def bind(self, lm: LanguageModel) -> Callable[[_Item], bytes]:
        def harvest_chunk(item: _Item) -> bytes:
            hooks, tokens_per_batch, windows = item
            return save_tensors(harvest_rows(lm, windows, hooks, tokens_per_batch))

        return harvest_chunk


class RayHarvester:
    """A :class:`~babellens.dictionaries.activations.Harvester` whose model runs in Ray actors.

    Use as a context manager around the training: the actors load the model once and live for
    every epoch of it. ``ahead``: chunks computed beyond the one the trainer is on (default:
    two per worker), which bounds the driver's memory to that many chunks of rows.
    """

    def __init__(
        self,
        model: str,
        options: RayOptions,
        *,
        dtype: str,
        device: str = "cpu",
        ahead: int | None = None,
    ) -> None:
        # The pool's own control: its progress and checkpoints are the trainer's business.
        self.pool = FanOutPool(
            model, _HarvestTask(), options, dtype=dtype, device=device, control=LocalControl()
        )
        self.ahead = ahead

    def __enter__(self) -> RayHarvester:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.__exit__(*exc)

    def start(self) -> dict[str, Any]:
        """Start the actors now (their load errors surface here); the model summary."""
        return self.pool.start()

    def harvest(
        self, chunks: Sequence[Sequence[Window]], hooks: Sequence[str], tokens_per_batch: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        items = [(tuple(hooks), tokens_per_batch, list(chunk)) for chunk in chunks]
        for data in self.pool.stream(items, ahead=self.ahead):
            yield load_tensors(data)
