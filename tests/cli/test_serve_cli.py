"""``babellens serve``: a real server process answers, and bad settings exit 2 with one line."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from cli_runner import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_on_loopback(tmp_path):
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "babellens", "serve", "--db", db, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                home = httpx.get(f"http://127.0.0.1:{port}/index.json", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.3)
        assert home.status_code == 200 and home.json()["models"] == []
        assert "No model has been scanned yet" in httpx.get(f"http://127.0.0.1:{port}/").text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out


def test_serve_beyond_loopback_without_a_token_exits_2(capsys, monkeypatch):
    monkeypatch.delenv("BABELLENS_TOKEN", raising=False)
    code, _, err = run_cli(["serve", "--host", "0.0.0.0"], capsys)
    assert code == 2 and "give --token or set BABELLENS_TOKEN" in err
    monkeypatch.setenv("BABELLENS_PORT", "not-a-port")
    code, _, err = run_cli(["serve"], capsys)
    assert code == 2 and "setting port" in err
