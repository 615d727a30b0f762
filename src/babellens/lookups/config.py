"""Every threshold of the context look-up pipeline, as one config that a report records.

Defaults follow Neo, Cohen & Barez (EMNLP 2024); the scale knobs (layers, neurons, prompts,
token budget) exist so that a 2-core CPU finishes a run in minutes with smaller numbers.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from babellens.autointerp.head_explainers import HEAD_EXPLAINER_TOKENS, HEAD_SCORER_KEYWORDS
from babellens.data.corpus import BUNDLED_CORPUS
from babellens.errors import InvalidInputError

__all__ = ["DEFAULT_EXPLAINER", "SPLIT_RULE", "LookupsConfig", "default_layers"]

DEFAULT_EXPLAINER = "local:qwen2.5-coder-0.5b"

SPLIT_RULE = (
    "by document: a corpus record's own 'split' field, else sha256(document id) < 0.2 -> test "
    "(babellens.data.corpus); windows never cross documents, so train and test share no text"
)


class LookupsConfig(BaseModel):
    """What to analyse and how; the report keeps a copy, so every number can be re-derived."""

    model_config = ConfigDict(extra="forbid")

    corpus: str = Field(BUNDLED_CORPUS, description="Bundled corpus, file, folder or hf:NAME")
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="Corpus tokens read per split, documents taken round-robin across "
        "languages (default: all, in corpus order)",
    )
    window_len: int = Field(128, ge=8, le=4096, description="Tokens per corpus window")
    tokens_per_batch: int = Field(2048, ge=8, le=1_000_000, description="Tokens per forward pass")
    layers: list[int] | None = Field(
        None, description="Layers whose neurons are analysed (default: the last quarter)"
    )
    last_fraction: float = Field(
        0.25, gt=0, le=1, description="Default layers: this final fraction of the model"
    )
    neurons_per_layer: int = Field(
        20, ge=0, le=1000, description="Next-token neurons per layer (top by congruence)"
    )
    whole_words: bool = Field(
        True, description="Next-token neurons' top token must be a whole word (the token filter)"
    )
    random_neurons_per_layer: int | None = Field(
        None, ge=0, le=1000, description="Random baseline neurons per layer (default: as many)"
    )
    prompts: int = Field(30, ge=2, le=1000, description="Max-activating train windows per neuron")
    test_prompts: int = Field(
        30, ge=2, le=1000, description="Max-activating test windows per neuron"
    )
    ratio: float = Field(0.8, gt=0, le=1, description="Truncation keeps this share of activation")
    truncation: Literal["exact", "binary"] = Field(
        "exact", description="Shortest suffix by increasing length, or the paper's binary search"
    )
    max_prompt_tokens: int = Field(100, ge=2, le=4096, description="Drop longer truncated prompts")
    attribution: Literal["auto", "direct", "gradient"] = "auto"
    active_rule: Literal["mean+2std", "top3"] = Field(
        "mean+2std", description="Active heads of a prompt: mean + 2 std of its heads, or top k"
    )
    top_k_heads: int = Field(3, ge=1, le=64, description="k of the top-k rule")
    min_active: float = Field(0.25, ge=0, le=1, description="Explain heads active in at least ...")
    max_active: float = Field(0.75, ge=0, le=1, description="... and at most this share of prompts")
    max_heads: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="Explain at most this many heads per neuron, the most "
        "often active first (default: all; a CPU-time knob, not in the paper)",
    )
    explain_examples: int | None = Field(
        None, ge=1, le=1000, description="Active (and inactive) examples shown (default: all)"
    )
    explainer: str = Field(DEFAULT_EXPLAINER, description="openai:URL:MODEL or local:ALIAS")
    scorer: str | None = Field(
        None, description="Provider of the Yes/No answers (default: explainer)"
    )
    unparsed: Literal["no", "skip"] = Field(
        "no", description="A scorer answer that is neither Yes nor No counts as No, or is skipped"
    )
    ablation: bool = Field(True, description="Run the head-ablation check")
    use_scan: bool = Field(
        True, description="Take prompts from a finished matching scan if any (no token budget)"
    )
    batch_size: int = Field(16, ge=1, le=1024, description="Prompts per forward pass")
    seed: int = Field(0, description="Seed of the random baseline neurons")

    @model_validator(mode="after")
    def _check(self) -> LookupsConfig:
        if self.min_active > self.max_active:
            raise ValueError("min_active must not exceed max_active")
        if self.layers is not None and any(layer < 0 for layer in self.layers):
            raise ValueError("layers must be non-negative")
        if self.explainer == HEAD_SCORER_KEYWORDS:
            raise ValueError(
                f"'{HEAD_SCORER_KEYWORDS}' is the model-free scorer: the model-free explainer is "
                f"'{HEAD_EXPLAINER_TOKENS}'"
            )
        if self.scorer == HEAD_EXPLAINER_TOKENS:
            raise ValueError(
                f"'{HEAD_EXPLAINER_TOKENS}' is the model-free explainer: the model-free scorer is "
                f"'{HEAD_SCORER_KEYWORDS}'"
            )
        return self

    @property
    def scorer_spec(self) -> str:
        """The scorer, by default the explainer's provider; the model-free explainer's scorer is
        the model-free one (it cannot answer a chat prompt)."""
        if self.scorer is not None:
            return self.scorer
        return HEAD_SCORER_KEYWORDS if self.explainer == HEAD_EXPLAINER_TOKENS else self.explainer

    @property
    def n_random(self) -> int:
        return (
            self.neurons_per_layer
            if self.random_neurons_per_layer is None
            else self.random_neurons_per_layer
        )


def default_layers(n_layers: int, config: LookupsConfig) -> list[int]:
    """The layers to analyse: the configured ones (checked) or the last ``last_fraction``."""
    if config.layers is not None:
        bad = [layer for layer in config.layers if not 1 <= layer < n_layers]
        if bad:
            raise InvalidInputError(
                f"choose layers 1..{n_layers - 1} (a neuron needs attention layers below it), "
                f"not {bad[0]}"
            )
        return sorted(set(config.layers))
    first = n_layers - max(1, math.ceil(n_layers * config.last_fraction - 1e-9))
    return list(range(max(first, 1), n_layers))
