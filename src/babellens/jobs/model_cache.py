"""One loaded model per (name, device, dtype) per process, shared by jobs and live queries."""

from __future__ import annotations

import threading

from babellens.models.language_model import LanguageModel
from babellens.models.loading import load

__all__ = ["cached_model", "model_lock", "put_model"]

_MODELS: dict[tuple[str, str, str], LanguageModel] = {}
_LOCK = threading.Lock()


def cached_model(name: str, device: str = "cpu", dtype: str = "float32") -> LanguageModel:
    key = (name, device, dtype)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = load(name, device=device, dtype=dtype)
        return _MODELS[key]


def put_model(lm: LanguageModel, device: str = "cpu", dtype: str = "float32") -> None:
    """Register an already loaded model (tests, or a model built in Python) under its name."""
    with _LOCK:
        _MODELS[(lm.name, device, dtype)] = lm


_JOB_LOCKS: dict[str, threading.Lock] = {}


def model_lock(name: str) -> threading.Lock:
    """Held by a job for its whole run: jobs in one process that share a cached model (and its
    tokenizer's padding side, and the hooks a job installs) take turns instead of mixing."""
    with _LOCK:
        return _JOB_LOCKS.setdefault(name, threading.Lock())
