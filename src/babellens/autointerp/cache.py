"""A disk cache in front of any provider, so a resumed or repeated run never pays for an answer twice.

One JSON file per request, named by the sha256 of (provider name, messages, max_tokens,
temperature), written atomically (temporary file + rename): a run killed mid-write leaves either
the old state or the full answer, never half a file. Sampled answers (temperature > 0) are cached
too: the cache's promise is "same request, same answer, one payment".
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babellens.autointerp.provider import ChatProvider, Message

__all__ = ["CachedProvider", "request_key"]


def _request(name: str, messages: list[Message], max_tokens: int, temperature: float) -> dict:
    return {
        "provider": name,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }


def request_key(name: str, messages: list[Message], max_tokens: int, temperature: float) -> str:
    """The hex sha256 that names a request's cache file."""
    text = json.dumps(_request(name, messages, max_tokens, temperature), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedProvider:
    """Wraps ``inner``; same ``name``, so a cached and an uncached run store the same provider."""

    def __init__(self, inner: ChatProvider, cache_dir: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache_dir = Path(cache_dir).expanduser()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def __repr__(self) -> str:
        return f"CachedProvider({self.inner!r}, {str(self.cache_dir)!r})"

    def complete(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> str:
        return self.complete_many([messages], max_tokens=max_tokens, temperature=temperature)[0]

    def complete_many(
        self, batch: list[list[Message]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]:
        keys = [request_key(self.name, m, max_tokens, temperature) for m in batch]
        found = {k: a for k in set(keys) if (a := self._read(k)) is not None}
        missing = sorted(set(keys) - found.keys())
        if missing:
            # hold each missing key while asking, so a concurrent caller waits for our answer
            with self._holding(missing):
                found |= {k: a for k in missing if (a := self._read(k)) is not None}
                todo = [k for k in missing if k not in found]
                if todo:
                    first = {k: batch[keys.index(k)] for k in todo}
                    answers = self.inner.complete_many(
                        list(first.values()), max_tokens=max_tokens, temperature=temperature
                    )
                    for key, answer in zip(todo, answers, strict=True):
                        self._write(key, first[key], max_tokens, temperature, answer)
                        found[key] = answer
        return [found[k] for k in keys]

    def path(self, key: str) -> Path:
        return self.cache_dir / f"{key}.json"

    def _read(self, key: str) -> str | None:
        try:
            stored = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent, or damaged by hand: ask again and overwrite
        answer = stored.get("response") if isinstance(stored, dict) else None
        return answer if isinstance(answer, str) else None

    def _write(
        self, key: str, messages: list[Message], max_tokens: int, temperature: float, answer: str
    ) -> None:
        record: dict[str, Any] = _request(self.name, messages, max_tokens, temperature)
        record["response"] = answer
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.cache_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, ensure_ascii=False, indent=1)
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def _holding(self, keys: list[str]) -> Iterator[None]:
        """Lock every key, in sorted order so two overlapping batches cannot deadlock."""
        with self._guard:
            locks = [self._key_locks.setdefault(k, threading.Lock()) for k in keys]
        for lock in locks:
            lock.acquire()
        try:
            yield
        finally:
            for lock in reversed(locks):
                lock.release()
