"""The safety experiment's parameters: the one place their defaults and limits live (the job
kind, the CLI and the web form all validate with this model)."""

from __future__ import annotations

from pydantic import Field

from babellens.params import JobParams

__all__ = ["DEFAULT_LANGS", "SafetyParams"]

DEFAULT_LANGS = ["en", "ru", "bg", "de", "es", "fr", "zh"]


class SafetyParams(JobParams):
    concept: str = Field(
        "refusal", description="refusal, sycophancy, hallucination, or a folder name under data_dir"
    )
    langs: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGS),
        min_length=1,
        max_length=16,
        description="Languages: directions are built and evaluated in each",
    )
    data_dir: str | None = Field(None, description="A folder of concept folders (default: bundled)")
    train_items: int | None = Field(
        None,
        ge=4,
        le=10_000,
        description="Training pairs per language (default: the whole train split)",
    )
    test_items: int = Field(10, ge=2, le=10_000, description="Held-out items per language and cell")
    layers: list[int] | None = Field(
        None, max_length=256, description="Layers to sweep (default: the middle half of the model)"
    )
    multipliers: list[float] = Field(
        default_factory=lambda: [-2.0, 0.0, 2.0],
        min_length=1,
        max_length=11,
        description="A/B concepts: multiples of the direction added at the chosen layer",
    )
    add_coefficient: float = Field(
        1.0,
        ge=-20.0,
        le=20.0,
        description="Refusal: multiple of the direction added to harmless prompts",
    )
    max_new_tokens: int = Field(
        12, ge=1, le=256, description="Refusal: tokens generated per answer"
    )
    batch_size: int = Field(32, ge=1, le=512)
    resamples: int = Field(1000, ge=10, le=100_000, description="Bootstrap resamples per interval")
    neutral_texts: int = Field(
        1, ge=1, le=64, description="Neutral texts per language for the KL cost"
    )
    seed: int = Field(0, ge=0)
