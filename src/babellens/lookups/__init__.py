"""Attention -> MLP context look-ups (Neo, Cohen & Barez, EMNLP 2024): the numerical core."""

from babellens.lookups.ablation import head_ablation_drop, last_token_logits, token_probabilities
from babellens.lookups.attribution import (
    AttributionMethod,
    HeadAttributions,
    active_heads,
    head_attributions,
)
from babellens.lookups.stats import (
    Distribution,
    TestResult,
    balanced_accuracy,
    describe,
    ks_test,
    skewness_test,
)
from babellens.lookups.truncation import (
    Truncation,
    TruncationMethod,
    last_token_activations,
    truncate,
)

__all__ = [
    "AttributionMethod",
    "Distribution",
    "HeadAttributions",
    "TestResult",
    "Truncation",
    "TruncationMethod",
    "active_heads",
    "balanced_accuracy",
    "describe",
    "head_ablation_drop",
    "head_attributions",
    "ks_test",
    "last_token_activations",
    "last_token_logits",
    "skewness_test",
    "token_probabilities",
    "truncate",
]
