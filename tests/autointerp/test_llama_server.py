"""The `openai` provider against a real OpenAI-compatible server: llama-cpp-python serving the
bundled Qwen2.5-Coder-0.5B (``bash .ci/llama_server.sh`` starts it and prints its URL).

Skipped unless BABELLENS_TEST_OPENAI_URL is set; CI sets BABELLENS_REQUIRE_OPENAI_SERVER=1 so a
missing server fails the run instead.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from babellens.autointerp import ProviderError, explain_head, get_provider, score_examples

pytestmark = pytest.mark.integration

FRANCE = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


@pytest.fixture(scope="module")
def spec() -> str:
    url = os.environ.get("BABELLENS_TEST_OPENAI_URL", "").rstrip("/")
    if not url:
        if os.environ.get("BABELLENS_REQUIRE_OPENAI_SERVER"):
            pytest.fail(
                "BABELLENS_TEST_OPENAI_URL is not set: start the server with "
                "`bash .ci/llama_server.sh` (see .ci/run)"
            )
        pytest.skip(
            "set BABELLENS_TEST_OPENAI_URL (bash .ci/llama_server.sh prints it) to test "
            "the openai provider against a real server"
        )
    models = httpx.get(f"{url}/models", timeout=10).raise_for_status().json()["data"]
    return f"openai:{url}:{models[0]['id']}"


def test_completion(spec):
    provider = get_provider(spec, retries=0, timeout_s=120)
    start = time.perf_counter()
    answer = provider.complete(FRANCE, max_tokens=8)
    print(f"\nlatency of one 8-token completion: {time.perf_counter() - start:.2f} s -> {answer!r}")
    assert "paris" in answer.lower()
    assert provider.complete(FRANCE, max_tokens=8) == answer  # temperature 0: greedy


def test_complete_many_keeps_the_order(spec):
    provider = get_provider(spec, concurrency=2, timeout_s=300)
    batch = [
        [{"role": "user", "content": f"What is the capital of {country}? One word."}]
        for country in ("France", "Italy", "Japan")
    ]
    start = time.perf_counter()
    answers = provider.complete_many(batch, max_tokens=8)
    print(f"\nthree completions, concurrency 2: {time.perf_counter() - start:.2f} s -> {answers}")
    assert [
        city in a.lower() for city, a in zip(("paris", "rome", "tokyo"), answers, strict=True)
    ] == [True] * 3


def test_explain_and_score_end_to_end(spec, tmp_path):
    provider = get_provider(spec, cache_dir=tmp_path, timeout_s=300)
    active = [
        "The Eiffel Tower stands in Paris",
        "She flew to France and landed in Paris",
        "The Louvre museum is in Paris",
    ]
    inactive = ["In Greek myth, Helen was taken to Troy by Paris", "My cousin is named Paris"]
    start = time.perf_counter()
    explanation = explain_head(provider, active, inactive, " Paris")
    took = time.perf_counter() - start
    print(f"\nexplanation ({took:.2f} s): {explanation!r}")
    assert len(explanation) > 10
    start = time.perf_counter()
    assert explain_head(provider, active, inactive, " Paris") == explanation  # from the cache
    assert time.perf_counter() - start < 0.5
    held_out = ["The train from Lyon arrived in Paris", "The shepherd prince was called Paris"]
    start = time.perf_counter()
    verdicts = score_examples(provider, explanation, held_out, " Paris")
    print(f"scores ({time.perf_counter() - start:.2f} s): {verdicts}")
    assert len(verdicts) == 2
    assert any(v is not None for v in verdicts)


def test_prompt_beyond_the_context_is_a_provider_error(spec):
    provider = get_provider(spec, retries=0, timeout_s=120)
    long = [{"role": "user", "content": "word " * 3000}]  # n_ctx is 2048
    with pytest.raises(ProviderError, match="HTTP 400: This model's maximum context length"):
        provider.complete(long, max_tokens=8)


def test_malformed_message_is_a_provider_error(spec):
    # llama-cpp-python answers a request that fails validation with a 500 (an OpenAI server says
    # 400): retried like any 5xx, then an error with the server's validation message
    provider = get_provider(spec, retries=1, backoff_s=0.1, timeout_s=60)
    with pytest.raises(ProviderError, match=r"after 2 attempt\(s\): HTTP 500: .*validation error"):
        provider.complete([{"role": "wizard", "content": "hi"}], max_tokens=4)
