"""Every knob of a cross-lingual experiment, with defaults sized so the single-adapter run fits in
about 20 minutes on a 2-core CPU with gemma3-270m (the original study used 100 prompts per
language and 100 new tokens: set ``rates.prompts`` and ``rates.max_new_tokens`` for that)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from babellens.crossling.lora import LoraConfig
from babellens.crossling.rates import RateConfig

__all__ = ["ExperimentConfig", "default_rates"]


def default_rates(prompts: int = 32, max_new_tokens: int = 64) -> RateConfig:
    """Rates of the evaluation, answered 64 rows a batch across languages: decoding is bound by
    reading the weights (above all the unembedding), so 64 rows cost about 1.5 times 32."""
    return RateConfig(prompts=prompts, max_new_tokens=max_new_tokens, batch_size=64)


def _steer_rates() -> RateConfig:
    return RateConfig(prompts=8, max_new_tokens=32, batch_size=64)


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    behaviour: str = "caps"
    train_langs: list[str] = Field(default_factory=lambda: ["en"], min_length=1, max_length=16)
    eval_langs: list[str] = Field(
        default_factory=lambda: ["en", "ru", "bg", "de", "es", "fr"], min_length=1, max_length=32
    )
    train_examples: int = Field(
        48, ge=1, le=10_000, description="Training instructions answered by the base model"
    )
    answer_tokens: int = Field(
        64, ge=1, le=1024, description="Length of the base model's training answers"
    )
    train_files: dict[str, str] = Field(
        default_factory=dict,
        description="Training language -> a JSONL file of {instruction, answer} pairs to train on "
        "instead of the base model's own transformed answers",
    )
    lora: LoraConfig = Field(default_factory=LoraConfig)
    rates: RateConfig = Field(default_factory=default_rates)
    reference_lang: str = Field("en", description="Whose concept vector steers every language")
    vectors: bool = Field(True, description="Build concept vectors per language and compare them")
    vector_pairs: int = Field(40, ge=2, le=1000, description="Contrast pairs per language")
    vector_layers: list[int] | None = Field(None, description="Layers to compare (default: all)")
    steering: bool = Field(True, description="Dose-response of cross-language steering")
    steer_layer: int | None = Field(None, description="Layer to steer (default: ~30% depth)")
    steer_coefficients: list[float] = Field(
        default_factory=lambda: [0.0, 0.5, 1.0, 2.0], min_length=1, max_length=16
    )
    steer_rates: RateConfig = Field(default_factory=_steer_rates)
    recover_langs: int = Field(
        2, ge=0, le=32, description="Weakest-transfer languages to steer the fine-tuned model in"
    )
    recover_coefficient: float = Field(1.0, ge=-100, le=100)
    logit_lens_targets: list[str] = Field(
        default_factory=lambda: ["de", "ru", "zh", "ja"],
        max_length=16,
        description="Target languages of the word-translation logit lens (empty: skip)",
    )
    logit_lens_source: str = Field("fr", description="Source language (de when the target is it)")
    logit_lens_words: int = Field(30, ge=1, le=1000)
