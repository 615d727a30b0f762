"""``babellens serve``: a real server process answers, and bad settings exit 2 with one line."""

from __future__ import annotations

import httpx

from cli_runner import run_cli
from server_process import served


def test_serve_answers_on_loopback(tmp_path):
    with served(f"sqlite:///{tmp_path / 'serve.db'}") as (base, proc):
        home = httpx.get(f"{base}/index.json", timeout=5)
        assert home.status_code == 200 and home.json()["models"] == []
        assert "No model has been scanned yet" in httpx.get(f"{base}/").text
    assert base in proc.stdout.read()  # the URL the user is told to open


def test_serve_beyond_loopback_without_a_token_exits_2(capsys, monkeypatch):
    monkeypatch.delenv("BABELLENS_TOKEN", raising=False)
    code, _, err = run_cli(["serve", "--host", "0.0.0.0"], capsys)
    assert code == 2 and "give --token or set BABELLENS_TOKEN" in err
    monkeypatch.setenv("BABELLENS_PORT", "not-a-port")
    code, _, err = run_cli(["serve"], capsys)
    assert code == 2 and "setting port" in err
