"""Who explains and who scores a look-up run's heads: the config's specs made into
:class:`HeadExplainer` objects (the model-free pair, or chat providers behind the paper's
prompts, built on first use and cached on disk), or the caller's own objects."""

from __future__ import annotations

from pathlib import Path

from babellens.autointerp import (
    MODEL_FREE_HEAD_SPECS,
    ChatProvider,
    ContextTokensHeadExplainer,
    HeadExplainer,
    Message,
    ProviderHeadExplainer,
    get_provider,
)
from babellens.lookups.config import LookupsConfig
from babellens.paths import babellens_home

__all__ = ["explanation_cache_dir", "head_explainers"]


def explanation_cache_dir() -> Path:
    """Where explainer and scorer answers are cached, keyed by a hash of the request."""
    return babellens_home() / "explanations"


class _LazyProvider:
    """Builds the provider on the first call: a run whose heads need no explanation (or a resumed
    run whose remaining answers are all cached) never loads a local explainer model."""

    def __init__(self, spec: str, cache_dir: Path | None) -> None:
        self.name = spec  # the spec, not the built provider's name: the same before and after
        self._spec, self._cache_dir = spec, cache_dir
        self._inner: ChatProvider | None = None

    def _get(self) -> ChatProvider:
        if self._inner is None:
            self._inner = get_provider(self._spec, cache_dir=self._cache_dir)
        return self._inner

    def complete(
        self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> str:
        return self._get().complete(messages, max_tokens=max_tokens, temperature=temperature)

    def complete_many(
        self, batch: list[list[Message]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[str]:
        return self._get().complete_many(batch, max_tokens=max_tokens, temperature=temperature)


def _head_explainer(spec: str, cache: Path) -> HeadExplainer:
    """The model-free floor for its two specs, else the named chat provider (built lazily)."""
    if spec in MODEL_FREE_HEAD_SPECS:
        return ContextTokensHeadExplainer(spec)
    return ProviderHeadExplainer(_LazyProvider(spec, cache))


def _as_head_explainer(given: ChatProvider | HeadExplainer) -> HeadExplainer:
    """A caller's object as it comes, or a chat provider behind the paper's prompts."""
    if isinstance(given, HeadExplainer):
        return given
    return ProviderHeadExplainer(given)


def head_explainers(
    config: LookupsConfig,
    explainer: ChatProvider | HeadExplainer | None,
    scorer: ChatProvider | HeadExplainer | None,
) -> tuple[HeadExplainer, HeadExplainer]:
    """The given explainer and scorer, else the config's, LLM answers cached on disk (one
    provider when the scorer is the explainer)."""
    cache = explanation_cache_dir()
    explain = (
        _as_head_explainer(explainer)
        if explainer is not None
        else _head_explainer(config.explainer, cache)
    )
    if scorer is not None:
        return explain, _as_head_explainer(scorer)
    if config.scorer_spec == config.explainer:
        return explain, explain
    return explain, _head_explainer(config.scorer_spec, cache)
