"""The safety experiment's report: what the store keeps, the API returns and the CLI prints."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from babellens.report import Report
from babellens.safety.detector import DetectorAgreement

__all__ = ["SafetyBaseRate", "SafetyRate", "SafetyReport"]


class SafetyRate(BaseModel):
    mean: float = Field(description="Refusal rate in % or mean P(matching answer) in %")
    low: float = Field(description="Bootstrap 95% interval, lower end")
    high: float
    n: int


class SafetyBaseRate(BaseModel):
    lang: str
    rate: SafetyRate = Field(
        description="Refusal: harmful prompts refused; A/B: P(matching), unsteered"
    )
    harmless: SafetyRate | None = Field(None, description="Refusal: harmless prompts refused")
    in_language: float | None = Field(None, description="% of answers in the prompt's language")
    samples: list[str] = Field(default_factory=list)


class SafetyReport(Report):
    report_kind: ClassVar[str] = "safety"
    report_version: ClassVar[int] = 1

    model: str
    concept: str
    kind: str = Field(description="instructions (refusal) or ab")
    langs: list[str]
    dtype: str
    train_pairs: int
    test_items: int
    layers: list[int] = Field(description="Layers swept")
    layer: int = Field(description="Layer chosen by the sweep on the training split")
    separation: dict[int, float] = Field(
        description="Held-out Cohen's d per layer, mean over langs"
    )
    cosine: dict[int, list[list[float]]] = Field(description="Per layer, langs x langs")
    control: dict[int, list[list[float]]] = Field(description="Same, shuffled-label directions")
    norms: dict[str, float] = Field(description="Direction norm per language at the chosen layer")
    base: list[SafetyBaseRate]
    detector: list[DetectorAgreement] = Field(default_factory=list)
    transfer: dict[str, list[list[SafetyRate]]] = Field(
        description="Condition -> [direction lang][eval lang]: refusal 'ablation' (harmful "
        "prompts, % refused) and 'addition' (harmless prompts, % refused); A/B 'x<m>' "
        "(P(matching) in % at multiplier m)"
    )
    random: dict[str, list[SafetyRate]] = Field(
        description="Same conditions with a random direction of the eval language's norm, per eval lang"
    )
    in_language: dict[str, list[list[float | None]]] = Field(
        default_factory=dict, description="Refusal: % of answers in the prompt's language per cell"
    )
    kl: dict[str, list[float]] = Field(
        description="Condition -> per direction lang: mean KL(plain || steered) on neutral text"
    )
    kl_random: dict[str, list[float]] = Field(default_factory=dict)
    seconds: dict[str, float] = Field(default_factory=dict, description="Wall time per stage")
