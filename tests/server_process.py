"""``babellens serve`` as a real process on a free loopback port, for tests that need a socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

__all__ = ["free_port", "served"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(db_url: str, timeout: float = 60) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start the server, wait until it answers, yield (base URL, process), stop it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "babellens", "serve", "--db", db_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                httpx.get(base + "/index.json", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)
