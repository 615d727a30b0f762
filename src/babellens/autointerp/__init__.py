"""Explainer and scorer providers (an OpenAI-compatible endpoint or an in-process model), their
prompts, and a disk cache so a resumed run never pays twice for the same answer."""

from babellens.autointerp.activations import LayerActivations, collect_neuron_activations
from babellens.autointerp.cache import CachedProvider, request_key
from babellens.autointerp.explain import explain_head, score_examples
from babellens.autointerp.explainers import (
    Explainer,
    LLMExplainer,
    TokenStatsExplainer,
    overrepresented,
)
from babellens.autointerp.feature_activations import collect_feature_activations
from babellens.autointerp.head_explainers import (
    HEAD_EXPLAINER_TOKENS,
    HEAD_SCORER_KEYWORDS,
    MODEL_FREE_HEAD_SPECS,
    ContextTokensHeadExplainer,
    HeadExplainer,
    ProviderHeadExplainer,
    context_terms,
    head_label,
    quoted_terms,
)
from babellens.autointerp.local_provider import LocalProvider
from babellens.autointerp.openai_provider import OpenAIConfig, OpenAIProvider, parse_openai_target
from babellens.autointerp.pipeline import (
    ExplainConfig,
    ExplainedUnit,
    UnitScore,
    explain_units,
    random_partners,
)
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
from babellens.autointerp.sampling import Example, SamplerConfig, UnitExamples, sample_unit
from babellens.autointerp.scoring import (
    SCORERS,
    Judge,
    KeywordJudge,
    LLMJudge,
    Score,
    ScoreSample,
    balanced_accuracy,
    bootstrap_interval,
    score_samples,
)
from babellens.autointerp.unit_prompts import UNIT_PROMPT_VERSION
from babellens.autointerp.units import (
    DICTIONARY_PREFIX,
    NEURON_SOURCE,
    UnitRef,
    dictionary_id_of,
    dictionary_source,
    feature_unit,
    parse_unit,
)

__all__ = [
    "DICTIONARY_PREFIX",
    "HEAD_EXPLAINER_TOKENS",
    "HEAD_SCORER_KEYWORDS",
    "MODEL_FREE_HEAD_SPECS",
    "NEURON_SOURCE",
    "PROVIDERS",
    "SCORERS",
    "UNIT_PROMPT_VERSION",
    "CachedProvider",
    "ChatProvider",
    "ContextTokensHeadExplainer",
    "Example",
    "ExplainConfig",
    "ExplainedUnit",
    "Explainer",
    "HeadExplainer",
    "Judge",
    "KeywordJudge",
    "LLMExplainer",
    "LLMJudge",
    "LayerActivations",
    "LocalProvider",
    "Message",
    "OpenAIConfig",
    "OpenAIProvider",
    "ProviderError",
    "ProviderFactory",
    "ProviderHeadExplainer",
    "SamplerConfig",
    "Score",
    "ScoreSample",
    "TokenStatsExplainer",
    "UnitExamples",
    "UnitRef",
    "UnitScore",
    "balanced_accuracy",
    "bootstrap_interval",
    "clean_explanation",
    "collect_feature_activations",
    "collect_neuron_activations",
    "context_terms",
    "dictionary_id_of",
    "dictionary_source",
    "explain_head",
    "explain_messages",
    "explain_units",
    "feature_unit",
    "get_provider",
    "head_label",
    "overrepresented",
    "parse_openai_target",
    "parse_unit",
    "parse_yes_no",
    "provider",
    "provider_names",
    "quoted_terms",
    "random_partners",
    "request_key",
    "sample_unit",
    "score_examples",
    "score_messages",
    "score_samples",
]
