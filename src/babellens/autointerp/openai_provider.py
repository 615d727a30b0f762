"""``openai``: any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, llama.cpp, Ollama).

Plain ``httpx`` rather than the ``openai`` client: one POST is all we need, and owning the retry
loop lets us decide what is worth retrying (rate limits, 5xx, dropped connections, timeouts) and
what must fail at once with the server's own words (every other 4xx).
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from babellens.autointerp.provider import Message, ProviderError, provider
from babellens.errors import InvalidInputError

__all__ = ["API_KEY_ENVS", "OpenAIConfig", "OpenAIProvider", "parse_openai_target"]

API_KEY_ENVS = ("BABELLENS_OPENAI_API_KEY", "OPENAI_API_KEY")
"""Where the key is looked up, in order, unless ``api_key_env`` names another variable."""

# scheme://host[:port][/path without ':'] then ':MODEL' (the model may hold ':', as Ollama tags do)
# (the port is possessive: "http://h:8765/v1" must not read as host "h" and model "8765/v1")
_TARGET = re.compile(r"^(https?://(?:\[[^\]]+\]|[^/:\[\]]+)(?::\d+)?+(?:/[^:]*)?):(.+)$")
_RETRYABLE = {408, 409, 425, 429}


def parse_openai_target(target: str) -> tuple[str, str]:
    """``http://host:port/v1:model`` -> (base URL, model)."""
    match = _TARGET.match(target)
    if not match or not match.group(2).strip():
        raise InvalidInputError(
            f"openai target {target!r} is not BASE_URL:MODEL: use e.g. "
            "'openai:http://127.0.0.1:8765/v1:qwen2.5-coder-0.5b'"
        )
    return match.group(1).rstrip("/"), match.group(2)


class OpenAIConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt option is an error, not a default

    base_url: str
    model: str
    api_key_env: str | None = None  # None: BABELLENS_OPENAI_API_KEY, then OPENAI_API_KEY
    concurrency: int = Field(4, ge=1, le=256)
    retries: int = Field(4, ge=0, le=20)
    timeout_s: float = Field(120.0, gt=0)
    backoff_s: float = Field(1.0, ge=0)  # first wait; doubles per retry
    max_backoff_s: float = Field(30.0, ge=0)


def _api_key(env: str | None) -> str | None:
    for name in (env,) if env else API_KEY_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _server_message(response: httpx.Response) -> str:
    """The server's own explanation, from the OpenAI error shape or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    if isinstance(body, dict) and body.get("detail"):  # FastAPI validation errors (llama.cpp)
        return str(body["detail"])[:500]
    return str(body)[:500]


def _content(body: Any) -> str:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ProviderError(
            f"the server's answer has no choices[0].message.content: {str(body)[:300]}"
        ) from None
    if not isinstance(content, str):
        raise ProviderError(f"the server returned no text (content={content!r})")
    return content


class OpenAIProvider:
    """Chat completions over HTTP, at most ``concurrency`` requests in flight across all threads."""

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.name = f"openai:{config.base_url}:{config.model}"
        self._url = f"{config.base_url.rstrip('/')}/chat/completions"
        self._slots = threading.BoundedSemaphore(config.concurrency)
        headers = {"Content-Type": "application/json"}
        key = _api_key(config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(headers=headers, timeout=config.timeout_s)

    def __repr__(self) -> str:
        return f"OpenAIProvider({self.name!r})"

    def close(self) -> None:
        self._client.close()

    def complete(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> str:
        payload = {
            "model": self.config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        with self._slots:
            return _content(self._post(payload))

    def complete_many(
        self, batch: list[list[Message]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]:
        """Answers in the order of ``batch``; the first failure cancels what has not started."""
        if len(batch) <= 1:
            return [self.complete(m, max_tokens=max_tokens, temperature=temperature) for m in batch]
        pool = ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(batch)))
        futures: list[Future[str]] = [
            pool.submit(self.complete, m, max_tokens=max_tokens, temperature=temperature)
            for m in batch
        ]
        try:
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _post(self, payload: dict[str, Any]) -> Any:
        cfg = self.config
        retry = _Retry("", None)
        for attempt in range(cfg.retries + 1):
            if attempt:
                time.sleep(self._wait(attempt, retry))
            outcome = self._attempt(payload)
            if not isinstance(outcome, _Retry):
                return outcome
            retry = outcome
        raise ProviderError(
            f"{self._url} failed after {cfg.retries + 1} attempt(s): {retry.problem}; "
            "check that the server is running and the model name is right"
        )

    def _attempt(self, payload: dict[str, Any]) -> Any:
        """The parsed JSON answer, a :class:`_Retry`, or a :class:`ProviderError` raised."""
        try:
            response = self._client.post(self._url, json=payload)
        except httpx.TimeoutException:
            return _Retry(f"no answer within {self.config.timeout_s:g} s", None)
        except httpx.TransportError as exc:
            return _Retry(f"cannot reach the server ({type(exc).__name__}: {exc})", None)
        if response.status_code < 400:
            try:
                return response.json()
            except ValueError:
                raise ProviderError(
                    f"{self._url} answered {response.status_code} with a body that is not JSON: "
                    f"{response.text[:200]!r}"
                ) from None
        problem = f"HTTP {response.status_code}: {_server_message(response)}"
        if response.status_code < 500 and response.status_code not in _RETRYABLE:
            raise ProviderError(f"{self._url} refused the request: {problem}")
        return _Retry(problem, response.headers.get("retry-after"))

    def _wait(self, attempt: int, retry: _Retry) -> float:
        """Exponential backoff, or the server's ``Retry-After`` when it asks for longer (capped)."""
        cfg = self.config
        wait = cfg.backoff_s * 2 ** (attempt - 1)
        if retry.retry_after:
            with suppress(ValueError):  # an HTTP date: rare enough to fall back to the backoff
                wait = max(wait, float(retry.retry_after))
        return min(wait, cfg.max_backoff_s)


@dataclass(frozen=True)
class _Retry:
    problem: str
    retry_after: str | None


@provider("openai")
def _make_openai(target: str, **options: Any) -> OpenAIProvider:
    base_url, model = parse_openai_target(target)
    try:
        config = OpenAIConfig(base_url=base_url, model=model, **options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInputError(f"openai provider option {where}: {first['msg']}") from None
    return OpenAIProvider(config)
