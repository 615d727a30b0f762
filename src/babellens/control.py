"""One run control for every long analysis: progress, should-stop, and checkpoints.

An analysis takes a :class:`RunControl` and calls ``progress``, polls ``should_stop`` between
units of work, and saves its state with ``save_state`` so that a cancel and a ``kill -9``
behave the same: the job resumes from the last checkpoint and ends with the result of an
uninterrupted run. Jobs hand in their :class:`~babellens.jobs.context.JobContext` (checkpoints in
the database); library callers get :class:`LocalControl` (in memory) by default.

The checkpoint format is one for everything: tensors as safetensors, with the JSON metadata in
the safetensors header, so a reader never has to guess which of several formats a blob is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = [
    "Checkpoint",
    "FileControl",
    "LocalControl",
    "RunControl",
    "StopRequested",
    "decode_checkpoint",
    "encode_checkpoint",
]

_META_KEY = "babellens_meta"


class StopRequested(Exception):
    """Raised by an analysis when ``should_stop()`` said so; its last checkpoint is kept."""


@dataclass
class Checkpoint:
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    done: int = 0


def encode_checkpoint(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> bytes:
    from safetensors.torch import save

    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return save(contiguous, metadata={_META_KEY: json.dumps(meta)})


def decode_checkpoint(blob: bytes) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load

    tensors = load(blob)
    meta: dict[str, Any] = {}
    # safetensors keeps the metadata in its JSON header: 8 bytes of length, then the header
    header_len = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + header_len])
    raw = header.get("__metadata__", {}).get(_META_KEY)
    if raw is not None:
        meta = json.loads(raw)
    return tensors, meta


@runtime_checkable
class RunControl(Protocol):
    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None: ...

    def should_stop(self) -> bool: ...

    def save_state(
        self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int
    ) -> None: ...

    def load_state(self) -> Checkpoint | None: ...


@dataclass
class LocalControl:
    """In-process control: optional progress callback and stop flag, checkpoint kept in memory."""

    on_progress: Callable[[int, int, str, str], None] | None = None
    stop: Callable[[], bool] | None = None
    _blob: bytes | None = None
    _done: int = 0
    messages: list[str] = field(default_factory=list)

    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None:
        if message:
            self.messages.append(message)
        if self.on_progress is not None:
            self.on_progress(done, total, unit, message)

    def should_stop(self) -> bool:
        return bool(self.stop and self.stop())

    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        self._blob, self._done = encode_checkpoint(tensors, meta), done

    def load_state(self) -> Checkpoint | None:
        if self._blob is None:
            return None
        tensors, meta = decode_checkpoint(self._blob)
        return Checkpoint(tensors, meta, self._done)


@dataclass
class FileControl(LocalControl):
    """A :class:`LocalControl` whose checkpoint is a file (the same safetensors format), for a
    library call that should resume across processes without a database: the next call with the
    same path starts from it. Written atomically, so a kill never leaves half a checkpoint."""

    path: Path = field(default_factory=lambda: Path("checkpoint.safetensors"))

    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        partial.write_bytes(encode_checkpoint(tensors, {"done": done, "meta": meta}))
        os.replace(partial, self.path)

    def load_state(self) -> Checkpoint | None:
        if not self.path.is_file():
            return None
        tensors, wrapped = decode_checkpoint(self.path.read_bytes())
        return Checkpoint(tensors, wrapped["meta"], int(wrapped["done"]))
