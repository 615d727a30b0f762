from __future__ import annotations

import time

import pytest

from babellens.autointerp import OpenAIConfig, OpenAIProvider, ProviderError, get_provider
from babellens.autointerp.openai_provider import parse_openai_target
from babellens.errors import InvalidInputError

from .fake_openai import Reply, answer, fake_openai

HELLO = [{"role": "user", "content": "hello"}]


def _provider(base_url: str, **options) -> OpenAIProvider:
    options = {"backoff_s": 0.01, "retries": 3, "timeout_s": 5.0} | options
    return OpenAIProvider(OpenAIConfig(base_url=base_url, model="m", **options))


@pytest.mark.parametrize(
    ("target", "url", "model"),
    [
        ("http://127.0.0.1:8765/v1:qwen", "http://127.0.0.1:8765/v1", "qwen"),
        ("https://api.openai.com/v1:gpt-4o-mini", "https://api.openai.com/v1", "gpt-4o-mini"),
        ("http://localhost:11434/v1:llama3:8b", "http://localhost:11434/v1", "llama3:8b"),
        ("http://[::1]:8000/v1/:org/model", "http://[::1]:8000/v1", "org/model"),
        ("http://host:model", "http://host", "model"),
    ],
)
def test_parse_target(target, url, model):
    assert parse_openai_target(target) == (url, model)


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:8765/v1", "http://host:8080", "127.0.0.1:80:m", "ftp://h:m"]
)
def test_parse_target_without_model_is_a_clear_error(target):
    with pytest.raises(InvalidInputError, match="BASE_URL:MODEL"):
        parse_openai_target(target)


def test_spec_builds_provider_with_options():
    p = get_provider("openai:http://127.0.0.1:9/v1:qwen", concurrency=2, retries=0)
    assert isinstance(p, OpenAIProvider)
    assert p.name == "openai:http://127.0.0.1:9/v1:qwen"
    assert (p.config.base_url, p.config.model, p.config.concurrency, p.config.retries) == (
        "http://127.0.0.1:9/v1",
        "qwen",
        2,
        0,
    )
    with pytest.raises(InvalidInputError, match="concurrency"):
        get_provider("openai:http://127.0.0.1:9/v1:qwen", concurrency=0)
    with pytest.raises(InvalidInputError, match="concurency"):
        get_provider("openai:http://127.0.0.1:9/v1:qwen", concurency=2)


def test_request_shape_and_answer(monkeypatch):
    monkeypatch.setenv("BABELLENS_OPENAI_API_KEY", "sk-test")
    with fake_openai() as server:
        text = _provider(server.base_url).complete(HELLO, max_tokens=7, temperature=0.5)
    assert text == "echo: hello"
    assert server.requests == [
        {"model": "m", "messages": HELLO, "max_tokens": 7, "temperature": 0.5}
    ]
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_api_key_from_named_variable_or_none(monkeypatch):
    monkeypatch.delenv("BABELLENS_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("MY_KEY", "sk-mine")
    with fake_openai() as server:
        _provider(server.base_url).complete(HELLO)
        _provider(server.base_url, api_key_env="MY_KEY").complete(HELLO)
    assert "authorization" not in server.headers[0]
    assert server.headers[1]["authorization"] == "Bearer sk-mine"


def test_server_error_is_retried_then_succeeds():
    script = [
        Reply(500, {"error": {"message": "boom"}}),
        Reply(503, b"busy"),
        Reply(200, answer("ok")),
    ]
    with fake_openai(script) as server:
        assert _provider(server.base_url).complete(HELLO) == "ok"
    assert len(server.requests) == 3


def test_backoff_doubles_and_honours_retry_after():
    script = [
        Reply(500),
        Reply(500),
        Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.3"}),
    ]
    with fake_openai(script) as server:
        start = time.monotonic()
        assert _provider(server.base_url, backoff_s=0.05).complete(HELLO) == "echo: hello"
        elapsed = time.monotonic() - start
    assert len(server.requests) == 4
    assert 0.05 + 0.1 + 0.3 <= elapsed < 3.0  # waits 0.05, 0.1, then max(0.2, Retry-After 0.3)


def test_client_error_fails_at_once_with_the_servers_message():
    script = [Reply(400, {"error": {"message": "max_tokens is too large", "type": "invalid"}})]
    with (
        fake_openai(script) as server,
        pytest.raises(ProviderError, match="HTTP 400: max_tokens is too large"),
    ):
        _provider(server.base_url).complete(HELLO)
    assert len(server.requests) == 1


def test_persistent_server_error_is_an_error_after_the_retries():
    script = [Reply(500, {"error": {"message": "down"}})] * 10
    failure = pytest.raises(ProviderError, match=r"after 3 attempt\(s\): HTTP 500: down")
    with fake_openai(script) as server, failure:
        _provider(server.base_url, retries=2).complete(HELLO)
    assert len(server.requests) == 3


def test_timeout_is_an_error():
    with fake_openai([Reply(delay_s=2.0)] * 2) as server:
        start = time.monotonic()
        with pytest.raises(ProviderError, match=r"no answer within 0\.3 s"):
            _provider(server.base_url, timeout_s=0.3, retries=1).complete(HELLO)
        assert time.monotonic() - start < 1.5
    assert len(server.requests) == 2


def test_unreachable_server_is_an_error():
    from server_process import free_port

    p = _provider(f"http://127.0.0.1:{free_port()}/v1", retries=1)
    with pytest.raises(ProviderError, match="cannot reach the server"):
        p.complete(HELLO)


@pytest.mark.parametrize(
    ("body", "problem"),
    [({"choices": []}, "no choices"), (answer(None), "no text"), (b"<html>", "not JSON")],  # type: ignore[arg-type]
)
def test_malformed_answers_are_errors(body, problem):
    with fake_openai([Reply(200, body)]) as server, pytest.raises(ProviderError, match=problem):
        _provider(server.base_url).complete(HELLO)


def test_complete_many_keeps_order_and_honours_the_concurrency_limit():
    batch = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
    with fake_openai(delay_s=0.1) as server:
        start = time.monotonic()
        answers = _provider(server.base_url, concurrency=3).complete_many(batch)
        elapsed = time.monotonic() - start
    assert answers == [f"echo: q{i}" for i in range(12)]
    assert server.max_in_flight == 3
    assert elapsed >= 0.4  # 12 requests of 0.1 s, 3 at a time: at least 4 rounds


def test_complete_many_fails_when_one_call_fails():
    batch = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    script = [Reply(400, {"error": {"message": "bad message"}})]
    with fake_openai(script) as server, pytest.raises(ProviderError, match="bad message"):
        _provider(server.base_url, concurrency=1).complete_many(batch)
