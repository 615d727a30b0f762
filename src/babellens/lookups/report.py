"""The context look-up report: what the store keeps, the API returns and the CLI prints.

One schema from the per-example records up to the paper's table, so a reader can go from a
summary number down to the prompts, attributions and answers it was computed from. ``version``
changes whenever a field changes meaning.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from babellens.lookups.config import LookupsConfig
from babellens.lookups.stats import Distribution, TestResult
from babellens.report import Report

__all__ = [
    "PAPER_GPT2",
    "REPORT_VERSION",
    "AblationSummary",
    "ExampleRecord",
    "GroupSummary",
    "HeadFrequency",
    "HeadLookup",
    "LookupsReport",
    "NeuronLookup",
    "PaperNumber",
    "SplitInfo",
]

REPORT_VERSION = 1

Group = Literal["next_token", "random"]


class ExampleRecord(BaseModel):
    """One truncated prompt as one head sees it."""

    split: Literal["train", "test"]
    window: int = Field(description="Corpus window index within its split")
    doc_id: str | None = None
    lang: str | None = None
    text: str = Field(description="The truncated prompt (its last token is the neuron's peak)")
    n_tokens: int
    activation: float = Field(description="The neuron at the prompt's last token")
    original: float = Field(description="The neuron at the same token in the full window")
    attribution: float = Field(description="This head's attribution to the neuron")
    active: bool = Field(description="Whether this head is active on this prompt")
    predicted: bool | None = Field(
        None, description="The scorer's answer (test examples; None: unparsed or not asked)"
    )
    probability: float | None = Field(
        None, description="P(token) at the last position, clean (train examples, with ablation)"
    )
    ablation_drop: float | None = Field(
        None, description="P(token) clean minus with this head's values zeroed (train examples)"
    )
    ablated_probability: float | None = Field(
        None, description="P(token) with this head's values zeroed (train examples)"
    )
    logprob_drop: float | None = Field(
        None, description="log P(token) clean minus log P(token) ablated (nats)"
    )
    relative_drop: float | None = Field(
        None, description="The drop as a fraction of the clean P(token)"
    )


class HeadLookup(BaseModel):
    """One (neuron, head) pair: the head's activity, its explanation and that explanation's score."""

    layer: int
    head: int
    active_fraction: float = Field(description="Share of the neuron's train prompts where active")
    explanation: str | None = None
    score: float | None = Field(None, description="Balanced accuracy on the test prompts")
    score_note: str | None = Field(None, description="Why there is no score, if there is none")
    n_test: int = 0
    n_unparsed: int = Field(0, description="Scorer answers that were neither Yes nor No")
    ablation_active: Distribution | None = None
    ablation_inactive: Distribution | None = None
    clean_probability: Distribution | None = Field(
        None, description="P(token) before ablation over the train examples"
    )
    logprob_drop_active: Distribution | None = None
    logprob_drop_inactive: Distribution | None = None
    relative_drop_active: Distribution | None = None
    relative_drop_inactive: Distribution | None = None
    attributed_fraction: float | None = Field(
        None,
        description="Share of train prompts where the attribution marks the ablated head active "
        "(equals active_fraction when the ablated head is the attribution's pick)",
    )
    examples: list[ExampleRecord] = Field(default_factory=list)


class HeadFrequency(BaseModel):
    layer: int
    head: int
    fraction: float


class NeuronLookup(BaseModel):
    group: Group
    layer: int
    neuron: int
    token_id: int
    token: str = Field(description="The token the neuron promotes (appended to every example)")
    congruence: float
    n_train: int = Field(description="Train prompts kept after truncation")
    n_test: int = Field(description="Test prompts kept after truncation")
    n_dropped: int = Field(description="Prompts dropped as longer than max_prompt_tokens")
    attribution_method: str | None = None
    frequent_heads: list[HeadFrequency] = Field(
        default_factory=list, description="Heads active on at least one train prompt"
    )
    heads: list[HeadLookup] = Field(
        default_factory=list, description="Heads active on min_active..max_active of the prompts"
    )
    seconds: float = 0.0
    phase_seconds: dict[str, float] = Field(
        default_factory=dict,
        description="Wall time per step: truncate, attribute, explain, score, ablate",
    )


class GroupSummary(BaseModel):
    group: Group
    neurons: int
    pairs: int = Field(description="(neuron, head) pairs explained")
    scored: int = Field(description="Pairs whose test prompts hold both classes")
    score: Distribution | None = None
    skewness: TestResult | None = Field(None, description="D'Agostino test (needs 8+ scores)")


class AblationSummary(BaseModel):
    group: Group
    active: Distribution | None = None
    inactive: Distribution | None = None
    clean_probability: Distribution | None = Field(
        None, description="P(token) before ablation, every ablated example of the group"
    )
    logprob_drop_active: Distribution | None = None
    logprob_drop_inactive: Distribution | None = None
    relative_drop_active: Distribution | None = None
    relative_drop_inactive: Distribution | None = None
    ks: TestResult | None = Field(None, description="Two-sample Kolmogorov-Smirnov test")


class SplitInfo(BaseModel):
    rule: str
    train_documents: int
    test_documents: int
    train_windows: int
    test_windows: int
    train_source: str = Field(description="'scan job N', 'targeted pass' or both")
    test_source: str


class PaperNumber(BaseModel):
    model: str
    score_mean: float | None = None
    score_std: float | None = None
    drop_active: float | None = None
    drop_inactive: float | None = None


PAPER_GPT2 = [
    PaperNumber(
        model="GPT-2 small",
        score_mean=0.650,
        score_std=0.194,
        drop_active=0.0192,
        drop_inactive=0.0075,
    ),
    PaperNumber(model="GPT-2 medium", score_mean=0.610, score_std=0.201),
    PaperNumber(model="GPT-2 large", score_mean=0.575, score_std=0.227),
    PaperNumber(model="GPT-2 random neurons", score_mean=0.558, score_std=0.191),
]
"""Neo, Cohen & Barez (EMNLP 2024): explanation scores and the ablation drop on GPT-2."""


class LookupsReport(Report):
    report_kind: ClassVar[str] = "lookups"
    report_version: ClassVar[int] = REPORT_VERSION

    version: int = REPORT_VERSION
    job_id: int | None = None
    model: str
    config: LookupsConfig
    explainer: str
    scorer: str
    layers: list[int]
    split: SplitInfo
    groups: list[GroupSummary]
    ablation: list[AblationSummary]
    neurons: list[NeuronLookup]
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per phase")
    paper: list[PaperNumber] = Field(default_factory=lambda: list(PAPER_GPT2))

    def group(self, name: Group) -> GroupSummary | None:
        return next((g for g in self.groups if g.group == name), None)

    def pair(
        self, layer: int, neuron: int, head_layer: int, head: int
    ) -> tuple[NeuronLookup, HeadLookup] | None:
        for n in self.neurons:
            if (n.layer, n.neuron) == (layer, neuron):
                for h in n.heads:
                    if (h.layer, h.head) == (head_layer, head):
                        return n, h
        return None
