"""Explainer and scorer providers (an OpenAI-compatible endpoint or an in-process model), their
prompts, and a disk cache so a resumed run never pays twice for the same answer."""

from babellens.autointerp.cache import CachedProvider, request_key
from babellens.autointerp.explain import explain_head, score_examples
from babellens.autointerp.local_provider import LocalProvider
from babellens.autointerp.openai_provider import OpenAIConfig, OpenAIProvider, parse_openai_target
from babellens.autointerp.prompts import (
    clean_explanation,
    explain_messages,
    parse_yes_no,
    score_messages,
)
from babellens.autointerp.provider import (
    PROVIDERS,
    ChatProvider,
    Message,
    ProviderError,
    ProviderFactory,
    get_provider,
    provider,
    provider_names,
)

__all__ = [
    "PROVIDERS",
    "CachedProvider",
    "ChatProvider",
    "LocalProvider",
    "Message",
    "OpenAIConfig",
    "OpenAIProvider",
    "ProviderError",
    "ProviderFactory",
    "clean_explanation",
    "explain_head",
    "explain_messages",
    "get_provider",
    "parse_openai_target",
    "parse_yes_no",
    "provider",
    "provider_names",
    "request_key",
    "score_examples",
    "score_messages",
]
