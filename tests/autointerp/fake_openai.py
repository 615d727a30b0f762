"""A scripted OpenAI-compatible server on a loopback port (http.server in a thread).

Each POST takes the next scripted reply (status, JSON body, headers, delay); once the script
runs out it answers 200 with the last user message echoed back. It records every request and
the most requests it ever had in flight at once, so tests can check retries and concurrency.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # None: an OpenAI answer echoing the last message
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def answer(text: str) -> dict:
    return {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ]
    }


@dataclass
class FakeServer:
    base_url: str
    script: list[Reply]
    default_delay_s: float = 0.0
    requests: list[dict] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, body: dict, headers: dict[str, str]) -> Reply:
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.script:
                return self.script.pop(0)
        return Reply(delay_s=self.default_delay_s)

    def done(self) -> None:
        with self.lock:
            self.in_flight -= 1


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = server.next_reply(body, {k.lower(): v for k, v in self.headers.items()})
            counted = True
            try:
                time.sleep(reply.delay_s)
                content = reply.body
                if content is None:
                    content = answer("echo: " + body["messages"][-1]["content"])
                raw = content if isinstance(content, bytes) else json.dumps(content).encode()
                # No longer in flight once the answer leaves: the client may send its next
                # request the moment it reads this one, before a ``finally`` here would run.
                server.done()
                counted = False
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)
            finally:
                if counted:
                    server.done()

    return Handler


@contextmanager
def fake_openai(script: list[Reply] | None = None, delay_s: float = 0.0) -> Iterator[FakeServer]:
    state = FakeServer("", list(script or []), delay_s)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
