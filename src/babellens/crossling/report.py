"""The stored result of a cross-lingual experiment: what the job keeps, the API returns and the
CLI prints with ``--json``. ``version`` changes when a field's meaning does."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from babellens.analyses.logit_lens import LogitLensResult
from babellens.crossling.config import ExperimentConfig
from babellens.crossling.cross_steering import DoseCurve, Recovery
from babellens.crossling.rates import BehaviourRate
from babellens.crossling.similarity import ConceptSimilarity
from babellens.report import Report

__all__ = ["REPORT_VERSION", "ConditionRates", "ExperimentReport"]

REPORT_VERSION = 2


class ConditionRates(BaseModel):
    condition: str = Field(description="base, or lora-LANG for the adapter trained in LANG")
    rates: dict[str, BehaviourRate]


class ExperimentReport(Report):
    report_kind: ClassVar[str] = "crossling"
    report_version: ClassVar[int] = REPORT_VERSION

    version: int = REPORT_VERSION
    model: str
    config: ExperimentConfig
    conditions: list[ConditionRates]
    transfer: dict[str, dict[str, float]] = Field(
        description="Adapter minus base rate, percentage points: [train][eval]"
    )
    adapters: dict[str, str] = Field(description="Adapter folder per training language")
    losses: dict[str, list[float]] = Field(
        default_factory=dict, description="LoRA completion loss per step, per training language"
    )
    similarity: ConceptSimilarity | None = None
    steering: list[DoseCurve] = Field(default_factory=list)
    recovery: list[Recovery] = Field(default_factory=list)
    logit_lens: list[LogitLensResult] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(description="Wall time of each step")

    def rates(self, condition: str) -> dict[str, BehaviourRate]:
        for c in self.conditions:
            if c.condition == condition:
                return c.rates
        raise KeyError(condition)
