"""Attention -> MLP context look-ups (Neo, Cohen & Barez, EMNLP 2024): the numerical core and
the pipeline that runs it end to end (`run_lookups`, `LookupsConfig`, `LookupsReport`)."""

from babellens.lookups.ablation import head_ablation_drop, last_token_logits, token_probabilities
from babellens.lookups.attribution import (
    AttributionMethod,
    HeadAttributions,
    active_heads,
    head_attributions,
)
from babellens.lookups.config import LookupsConfig
from babellens.lookups.pipeline import LookupsState, build_report, prepare, run_lookups
from babellens.lookups.prompts_data import MaxPrompt, collect_prompts
from babellens.lookups.report import HeadLookup, LookupsReport, NeuronLookup
from babellens.lookups.selection import NeuronTarget, select_neurons
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
    "HeadLookup",
    "LookupsConfig",
    "LookupsReport",
    "LookupsState",
    "MaxPrompt",
    "NeuronLookup",
    "NeuronTarget",
    "TestResult",
    "Truncation",
    "TruncationMethod",
    "active_heads",
    "balanced_accuracy",
    "build_report",
    "collect_prompts",
    "describe",
    "head_ablation_drop",
    "head_attributions",
    "ks_test",
    "last_token_activations",
    "last_token_logits",
    "prepare",
    "run_lookups",
    "select_neurons",
    "skewness_test",
    "token_probabilities",
    "truncate",
]
