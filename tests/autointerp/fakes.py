"""A provider that answers from a function and counts what it was asked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from babellens.autointerp import Message


class CountingProvider:
    def __init__(
        self,
        reply: Callable[[list[Message]], str] | None = None,
        delay_s: float = 0.0,
        name: str = "fake:counting",
    ) -> None:
        self.name = name
        self.reply = reply or (lambda messages: f"answer to {messages[-1]['content']}")
        self.delay_s = delay_s
        self.calls: list[tuple[list[Message], int, float]] = []
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def complete(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> str:
        time.sleep(self.delay_s)
        with self._lock:
            self.calls.append((messages, max_tokens, temperature))
        return self.reply(messages)

    def complete_many(
        self, batch: list[list[Message]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]:
        with self._lock:
            self.batches.append(len(batch))
        return [self.complete(m, max_tokens=max_tokens, temperature=temperature) for m in batch]
