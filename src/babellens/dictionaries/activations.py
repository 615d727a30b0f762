"""Training activations: streamed from the model in shuffled chunks, optionally cached on disk.

An epoch visits the windows in a seeded permutation, so every chunk mixes windows from all over
the corpus; the rows of a chunk are shuffled again before they are cut into batches. The order
depends only on (seed, epoch, chunk), never on what ran before, so a resumed run sees exactly
the batches an uninterrupted one saw. The model pass captures only the needed hook points and
stops after the last layer they need. With a disk cache, the first epoch writes each window's
rows into one memory-mapped file per hook point and later epochs read them back instead of
running the model again.

Where the rows come from is a :class:`Harvester`: here, the model in this process; on Ray
(:mod:`babellens.jobs.ray_harvest`), worker actors that each run whole chunks through
:func:`harvest_rows`, the same batches with the same padding, and hand them back in chunk order.
The trainer sees the same rows in the same order either way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from babellens.capture.language_model import LanguageModel
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, batches

__all__ = [
    "ActivationChunk",
    "ActivationSource",
    "Harvester",
    "LocalHarvester",
    "RowSource",
    "TensorSource",
    "harvest_rows",
    "kept_positions",
]


@dataclass(frozen=True)
class ActivationChunk:
    """Rows of one chunk, per hook point, already shuffled ([rows, d] float32)."""

    epoch: int
    index: int
    rows: dict[str, torch.Tensor]

    @property
    def n_rows(self) -> int:
        return next(iter(self.rows.values())).shape[0]


class RowSource(Protocol):
    """What the trainer reads: shuffled chunks, deterministic in (seed, epoch, chunk)."""

    tokens_per_epoch: int

    def dims(self) -> dict[str, int]: ...

    def chunk_rows(self, epoch: int) -> list[int]: ...

    def chunks(self, epoch: int, start: int = 0) -> Iterator[ActivationChunk]: ...


def _shuffled(rows: dict[str, torch.Tensor], seed: int, epoch: int, index: int) -> ActivationChunk:
    generator = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_003 + index)
    n = next(iter(rows.values())).shape[0]
    perm = torch.randperm(n, generator=generator)
    return ActivationChunk(epoch, index, {h: r[perm] for h, r in rows.items()})


class TensorSource:
    """Activations already in memory (rows aligned across hook points), in shuffled chunks.

    For callers who harvested activations themselves, and for benchmarks that feed two trainers
    exactly the same rows. Each epoch permutes all rows (seeded), then cuts them into chunks.
    """

    def __init__(self, rows: dict[str, torch.Tensor], *, seed: int, chunk_tokens: int) -> None:
        self.rows = {h: r.float() for h, r in rows.items()}
        self.seed, self.chunk_tokens = seed, chunk_tokens
        self.tokens_per_epoch = next(iter(self.rows.values())).shape[0]

    def dims(self) -> dict[str, int]:
        return {h: r.shape[1] for h, r in self.rows.items()}

    def chunk_rows(self, epoch: int) -> list[int]:
        n, size = self.tokens_per_epoch, self.chunk_tokens
        return [min(size, n - start) for start in range(0, n, size)]

    def chunks(self, epoch: int, start: int = 0) -> Iterator[ActivationChunk]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.tokens_per_epoch, generator=generator)
        for index, begin in enumerate(range(0, self.tokens_per_epoch, self.chunk_tokens)):
            if index < start:
                continue
            picked = order[begin : begin + self.chunk_tokens]
            yield _shuffled({h: r[picked] for h, r in self.rows.items()}, self.seed, epoch, index)


def kept_positions(window: Window) -> int:
    """Positions a dictionary trains on: every token but a leading BOS (its norm is an outlier)."""
    return window.n_tokens - (1 if window.has_bos else 0)


def harvest_rows(
    lm: LanguageModel, windows: Sequence[Window], hooks: Sequence[str], tokens_per_batch: int
) -> dict[str, torch.Tensor]:
    """Rows of every window in the given order (BOS dropped), per hook point, float32 on the CPU.

    The batches (and so the padding and the float reductions) depend only on ``windows`` and
    ``tokens_per_batch``, so a Ray worker that is sent the same windows computes the same bits.
    """
    pad_id = resolve_pad_id(lm.tokenizer)
    parts: dict[str, list[torch.Tensor]] = {h: [] for h in hooks}
    by_index = {w.index: w for w in windows}
    for batch in batches(windows, tokens_per_batch=tokens_per_batch, pad_id=pad_id):
        out = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=list(hooks),
        )
        for row, window_index in enumerate(batch.indices.tolist()):
            window = by_index[window_index]
            first = 1 if window.has_bos else 0
            for hook in hooks:
                acts = out[hook][row, first : window.n_tokens]
                parts[hook].append(acts.detach().to("cpu", torch.float32))
    return {h: torch.cat(p) for h, p in parts.items()}


class Harvester(Protocol):
    """Runs chunks of windows through the model: each chunk's rows per hook point, in order."""

    def harvest(
        self, chunks: Sequence[Sequence[Window]], hooks: Sequence[str], tokens_per_batch: int
    ) -> Iterator[dict[str, torch.Tensor]]: ...


@dataclass(frozen=True)
class LocalHarvester:
    """The model in this process, one chunk at a time (nothing computed ahead)."""

    lm: LanguageModel

    def harvest(
        self, chunks: Sequence[Sequence[Window]], hooks: Sequence[str], tokens_per_batch: int
    ) -> Iterator[dict[str, torch.Tensor]]:
        for chunk_windows in chunks:
            yield harvest_rows(self.lm, chunk_windows, hooks, tokens_per_batch)


class ActivationSource:
    """Chunks of activations at ``hooks`` for ``epochs`` passes over ``windows``."""

    def __init__(
        self,
        lm: LanguageModel,
        windows: Sequence[Window],
        hooks: Sequence[str],
        *,
        seed: int,
        chunk_tokens: int,
        tokens_per_batch: int,
        cache_dir: Path | None = None,
        harvester: Harvester | None = None,
    ) -> None:
        self.lm, self.windows, self.hooks = lm, list(windows), sorted(set(hooks))
        self.seed, self.chunk_tokens, self.tokens_per_batch = seed, chunk_tokens, tokens_per_batch
        self.tokens_per_epoch = sum(kept_positions(w) for w in self.windows)
        self.cache = _DiskCache(cache_dir, self) if cache_dir is not None else None
        self.harvester = harvester if harvester is not None else LocalHarvester(lm)

    def dims(self) -> dict[str, int]:
        """Each hook point's width, from one short forward pass."""
        sample = next(iter(self._harvest([self.windows[:1]])))
        return {hook: rows.shape[1] for hook, rows in sample.items()}

    def chunk_plan(self, epoch: int) -> list[list[Window]]:
        """The windows of every chunk of ``epoch``, in the seeded order of that epoch."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.windows), generator=generator).tolist()
        plan: list[list[Window]] = [[]]
        tokens = 0
        for i in order:
            window = self.windows[i]
            if tokens >= self.chunk_tokens:
                plan.append([])
                tokens = 0
            plan[-1].append(window)
            tokens += kept_positions(window)
        return plan

    def chunk_rows(self, epoch: int) -> list[int]:
        return [sum(kept_positions(w) for w in chunk) for chunk in self.chunk_plan(epoch)]

    def chunks(self, epoch: int, start: int = 0) -> Iterator[ActivationChunk]:
        """The shuffled chunks of ``epoch`` from chunk ``start`` on.

        The chunks not in the disk cache go to the harvester together, so one that computes
        ahead (on Ray) works on the next chunks while the trainer consumes this one.
        """
        plan = self.chunk_plan(epoch)[start:]
        cached = [self.cache is not None and self.cache.has(c) for c in plan]
        fresh = self._harvest([c for c, hit in zip(plan, cached, strict=True) if not hit])
        for index, (chunk_windows, hit) in enumerate(zip(plan, cached, strict=True), start):
            if hit:
                assert self.cache is not None
                rows = self.cache.read(chunk_windows)
            else:
                rows = next(fresh)
                if self.cache is not None:
                    self.cache.write(chunk_windows, rows)
            yield _shuffled(rows, self.seed, epoch, index)

    def _harvest(self, chunks: Sequence[Sequence[Window]]) -> Iterator[dict[str, torch.Tensor]]:
        return iter(self.harvester.harvest(chunks, self.hooks, self.tokens_per_batch))


class _DiskCache:
    """One float32 memmap per hook point, rows laid out by window index; a flag per window."""

    def __init__(self, root: Path, source: ActivationSource) -> None:
        key = {
            "model": source.lm.name,
            "hooks": source.hooks,
            "n_windows": len(source.windows),
            "tokens": source.tokens_per_epoch,
            "dtype": str(source.lm.dtype),
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
        for w in source.windows:  # the exact token windows, so another corpus never matches
            digest.update(np.asarray(w.token_ids, dtype=np.int64).tobytes())
        digest = digest.hexdigest()[:16]
        self.root = root / digest
        self.root.mkdir(parents=True, exist_ok=True)
        self.source = source
        self.offsets = np.zeros(len(source.windows) + 1, dtype=np.int64)
        np.cumsum([kept_positions(w) for w in source.windows], out=self.offsets[1:])
        self._index_of = {w.index: i for i, w in enumerate(source.windows)}
        self._maps: dict[str, np.memmap] = {}
        flags = self.root / "filled.npy"
        self.filled = (
            np.load(flags) if flags.exists() else np.zeros(len(source.windows), dtype=bool)
        )

    def _map(self, hook: str, d: int) -> np.memmap:
        if hook not in self._maps:
            path = self.root / f"{hook}.f32"
            mode = "r+" if path.exists() else "w+"
            self._maps[hook] = np.memmap(path, np.float32, mode, shape=(int(self.offsets[-1]), d))
        return self._maps[hook]

    def has(self, windows: Sequence[Window]) -> bool:
        return bool(all(self.filled[self._index_of[w.index]] for w in windows))

    def read(self, windows: Sequence[Window]) -> dict[str, torch.Tensor]:
        meta = json.loads((self.root / "dims.json").read_text())
        out = {}
        for hook in self.source.hooks:
            data = self._map(hook, meta[hook])
            rows = [data[self._span(w)] for w in windows]
            out[hook] = torch.from_numpy(np.concatenate(rows))
        return out

    def write(self, windows: Sequence[Window], rows: dict[str, torch.Tensor]) -> None:
        dims = {hook: r.shape[1] for hook, r in rows.items()}
        (self.root / "dims.json").write_text(json.dumps(dims))
        for hook, values in rows.items():
            data, at = self._map(hook, dims[hook]), 0
            for w in windows:
                span = self._span(w)
                n = span.stop - span.start
                data[span] = values[at : at + n].numpy()
                at += n
            data.flush()
        for w in windows:
            self.filled[self._index_of[w.index]] = True
        np.save(self.root / "filled.npy", self.filled)

    def _span(self, window: Window) -> slice:
        i = self._index_of[window.index]
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))
