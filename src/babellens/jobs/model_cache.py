"""One loaded model per (name, device, dtype) per process, shared by jobs and live queries."""

from __future__ import annotations

import threading

from babellens.capture.language_model import LanguageModel, load
from babellens.models.precision import AUTO, dtype_name, resolve_dtype

__all__ = ["cached_model", "model_lock", "put_model"]

_MODELS: dict[tuple[str, str, str], LanguageModel] = {}
_LOCK = threading.Lock()


def cached_model(name: str, device: str = "cpu", dtype: str = AUTO) -> LanguageModel:
    """The process's copy of ``name`` on ``device`` in ``dtype``, loaded on first use.

    Jobs default to ``auto`` (bfloat16 where the hardware has fast bfloat16): a job records the
    dtype it ran in through its model summary. ``auto`` also finds a model registered with
    :func:`put_model` without a dtype, whatever that model's own dtype.
    """
    with _LOCK:
        if dtype == AUTO and (name, device, AUTO) in _MODELS:
            return _MODELS[(name, device, AUTO)]
        key = (name, device, dtype_name(resolve_dtype(dtype, device)))
        if key not in _MODELS:
            _MODELS[key] = load(name, device=device, dtype=key[2])
        return _MODELS[key]


def put_model(lm: LanguageModel, device: str = "cpu", dtype: str | None = None) -> None:
    """Register an already loaded model (tests, or a model built in Python) under its name.

    Without ``dtype`` it is registered under its own dtype and as the answer to ``auto``.
    """
    with _LOCK:
        if dtype is None:
            _MODELS[(lm.name, device, AUTO)] = lm
            dtype = dtype_name(lm.dtype)
        _MODELS[(lm.name, device, dtype_name(resolve_dtype(dtype, device)))] = lm


_JOB_LOCKS: dict[str, threading.Lock] = {}


def model_lock(name: str) -> threading.Lock:
    """Held by a job for its whole run: jobs in one process that share a cached model (and its
    tokenizer's padding side, and the hooks a job installs) take turns instead of mixing."""
    with _LOCK:
        return _JOB_LOCKS.setdefault(name, threading.Lock())
