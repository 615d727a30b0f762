"""The run state of an experiment: named steps whose results are kept through the run control.

A step runs once; its result (JSON) and any tensors it adds (concept vectors) go into the
control's checkpoint as soon as it is done, so a stopped or killed run redoes at most the step
it was in. One checkpoint format for everything (:mod:`babellens.control`); the job's control
keeps it in the database, a library call's in a file of the run folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter

from babellens.control import RunControl, StopRequested

__all__ = ["ExperimentStopped", "StepControl", "StepRun"]


class ExperimentStopped(StopRequested):
    """Raised between steps when ``should_stop`` says so; the finished steps stay saved."""


class StepRun:
    """The finished steps (results as JSON, tensors beside them), kept through the run control
    after every step, with their wall time, progress and stop checks."""

    def __init__(self, folder: Path, total: int, control: RunControl) -> None:
        self.folder, self.total, self.done, self.control = folder, total, 0, control
        self.folder.mkdir(parents=True, exist_ok=True)
        saved = control.load_state()
        meta = saved.meta if saved is not None else {}
        self.results: dict[str, Any] = dict(meta.get("steps", {}))
        self.timings: dict[str, float] = dict(meta.get("timings", {}))
        self.tensors: dict[str, torch.Tensor] = dict(saved.tensors) if saved is not None else {}

    def step(self, name: str, label: str, kind: Any, compute: Callable[[], Any]) -> Any:
        return self.steps([name], label, kind, lambda _missing: [compute()])[0]

    def steps(
        self, names: list[str], label: str, kind: Any, compute: Callable[[list[int]], list[Any]]
    ) -> list[Any]:
        """Named steps computed together, in shared batches: ``compute`` gets the indices of the
        missing ones and returns their values, each then kept under its own name (so a run
        saved step by step resumes here too)."""
        if self.control.should_stop():
            raise ExperimentStopped(f"stopped before {label}; run again to resume")
        self.control.progress(self.done, self.total, "steps", label)
        missing = [i for i, name in enumerate(names) if name not in self.results]
        adapter = _type_adapter(kind)
        if missing:
            start = time.perf_counter()
            for i, value in zip(missing, compute(missing), strict=True):
                self.results[names[i]] = adapter.dump_python(value, mode="json")
            self.timings[label] = round(time.perf_counter() - start, 2)
            self.save()
        self.done += len(names)
        return [adapter.validate_python(self.results[name]) for name in names]

    def save(self) -> None:
        meta = {"steps": self.results, "timings": self.timings}
        self.control.save_state(self.tensors, meta, len(self.results))


def _type_adapter(kind: Any) -> TypeAdapter:
    return kind if isinstance(kind, TypeAdapter) else TypeAdapter(kind)


class StepControl:
    """The run control as a step sees it (LoRA training): its progress is a message within the
    experiment's step count, its stop is the experiment's."""

    def __init__(self, run: StepRun, label: str) -> None:
        self.run, self.label = run, label

    def progress(self, done: int, total: int, unit: str = "", message: str = "") -> None:
        self.run.control.progress(
            self.run.done, self.run.total, "steps", f"{self.label}: {done}/{total} {unit}"
        )

    def should_stop(self) -> bool:
        return self.run.control.should_stop()

    def save_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], done: int) -> None:
        raise TypeError("a step's state is the experiment's: the step keeps none of its own")

    def load_state(self) -> None:
        return None
