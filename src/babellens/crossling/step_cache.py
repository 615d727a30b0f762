"""Resume by skipping finished steps: each step's result is a JSON file in the run's folder.

A step is named, runs once, and writes its pydantic result atomically (temporary file, then
rename), so a run killed mid-step redoes only that step. LoRA training keeps its own checkpoint
inside its step, so even a half-trained adapter resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, TypeAdapter

__all__ = ["StepCache"]

T = TypeVar("T")


class StepCache:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def done(self, name: str) -> bool:
        return self.path(name).is_file()

    def read(self, name: str, kind: type[T] | TypeAdapter) -> T:
        return _adapter(kind).validate_json(self.path(name).read_bytes())

    def write(self, name: str, kind: type[T] | TypeAdapter, value: T) -> None:
        """Atomically: a temporary file, then a rename, so a killed run never leaves half a step."""
        path = self.path(name)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        data = (
            value.model_dump(mode="json")
            if isinstance(value, BaseModel)
            else _adapter(kind).dump_python(value, mode="json")
        )
        partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)


def _adapter(kind: type[T] | TypeAdapter) -> TypeAdapter:
    return kind if isinstance(kind, TypeAdapter) else TypeAdapter(kind)
