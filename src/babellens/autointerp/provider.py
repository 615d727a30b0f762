"""One interface for every explainer and scorer, and a registry that creates them from a spec string.

A spec is ``NAME:TARGET`` (``openai:http://127.0.0.1:8765/v1:qwen``, ``local:qwen2.5-coder-0.5b``)
so the CLI, the jobs and the web app can pass a provider around as one string and build the same
object from it. Built-in kinds live in their own modules and register themselves on import; a
third party adds a kind with ``@provider("name")``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from babellens.errors import BabelLensError, InvalidInputError
from babellens.registry import Registry

__all__ = [
    "PROVIDERS",
    "ChatProvider",
    "Message",
    "ProviderError",
    "ProviderFactory",
    "get_provider",
    "provider",
    "provider_names",
]

Message = dict[str, str]
"""``{"role": "system" | "user" | "assistant", "content": ...}``, the OpenAI chat shape."""


class ProviderError(BabelLensError):
    """A chat call failed (the server refused it, timed out, or answered nonsense).

    Raised rather than returned as an empty answer: a failed call must never turn into a score.
    """


@runtime_checkable
class ChatProvider(Protocol):
    """Anything that answers chat messages; ``name`` identifies it in caches and stored results."""

    name: str

    def complete(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> str: ...

    def complete_many(
        self, batch: list[list[Message]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]: ...


ProviderFactory = Callable[..., ChatProvider]
"""Called as ``factory(target, **options)`` with the part of the spec after ``NAME:``."""

PROVIDERS: Registry[ProviderFactory] = Registry("provider")


def provider(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Register a factory under ``name`` so ``get_provider("name:...")`` builds it."""
    if not name or ":" in name:
        raise InvalidInputError(f"a provider name is one word without ':', got {name!r}")

    def register(factory: ProviderFactory) -> ProviderFactory:
        PROVIDERS[name] = factory
        return factory

    return register


def _register_builtins() -> None:
    from babellens.autointerp import local_provider, openai_provider  # noqa: F401 - registers them


def provider_names() -> list[str]:
    """Every registered provider kind, the built-in ones included."""
    _register_builtins()
    return sorted(PROVIDERS)


def get_provider(spec: str, *, cache_dir: str | Path | None = None, **options: Any) -> ChatProvider:
    """Build the provider a spec names; with ``cache_dir`` its answers are cached on disk.

    ``options`` go to the factory (``concurrency=``, ``retries=``, ``timeout_s=`` for ``openai``;
    ``device=``, ``batch_size=`` for ``local``).
    """
    _register_builtins()
    name, sep, target = spec.partition(":")
    if not sep or not target:
        raise InvalidInputError(
            f"provider spec {spec!r} is not NAME:TARGET: use e.g. "
            "'openai:http://127.0.0.1:8765/v1:MODEL' or 'local:qwen2.5-coder-0.5b'"
        )
    factory = PROVIDERS.lookup(name)
    built = factory(target, **options)
    if cache_dir is None:
        return built
    from babellens.autointerp.cache import CachedProvider

    return CachedProvider(built, cache_dir)
