"""The transfer experiment: train a behaviour with LoRA in one language, measure it in every one.

For each training language: the base model answers the training instructions, the behaviour's
transform turns the answers into training targets (upper-cased for CAPS), a LoRA adapter is trained
on them, and the adapted model's behaviour rate is measured on held-out instructions in every
evaluation language, beside the base model's. The transfer matrix is the baseline-corrected rate
(adapter minus base, in percentage points), training language × evaluation language.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from babellens.crossling.behaviours import get_behaviour
from babellens.crossling.lora import LoraConfig, TrainExample, load_with_adapter, train_lora
from babellens.crossling.rates import BehaviourRate, RateConfig, behaviour_rate
from babellens.data.prompts import chat_prompt, instructions
from babellens.models.language_model import LanguageModel
from babellens.models.loading import load
from babellens.steering.apply import generate

__all__ = [
    "ConditionRates",
    "ExperimentConfig",
    "ExperimentReport",
    "run_experiment",
    "training_examples",
]


class ExperimentConfig(BaseModel):
    behaviour: str = "caps"
    train_langs: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    eval_langs: list[str] = Field(
        default_factory=lambda: ["en", "ru", "bg", "de", "es", "fr"], min_length=1
    )
    train_examples: int = Field(
        60, ge=1, le=10_000, description="Training instructions answered by the base model"
    )
    answer_tokens: int = Field(
        64, ge=1, le=1024, description="Length of the base model's training answers"
    )
    lora: LoraConfig = Field(default_factory=LoraConfig)
    rates: RateConfig = Field(default_factory=RateConfig)


class ConditionRates(BaseModel):
    condition: str = Field(description="base, or lora-LANG for the adapter trained in LANG")
    rates: dict[str, BehaviourRate]


class ExperimentReport(BaseModel):
    model: str
    config: ExperimentConfig
    conditions: list[ConditionRates]
    transfer: dict[str, dict[str, float]] = Field(
        description="Adapter minus base rate, percentage points: [train][eval]"
    )
    adapters: dict[str, str] = Field(description="Adapter folder per training language")
    timings_s: dict[str, float] = Field(description="Wall time of each step")


def training_examples(lm: LanguageModel, transform: Callable[[str], str], lang: str, n: int,
                      answer_tokens: int, batch_size: int = 8) -> list[TrainExample]:  # fmt: skip
    """The base model's own (greedy) answers to the first ``n`` training instructions, transformed."""
    prompts = [chat_prompt(lm.tokenizer, r["text"]) for r in instructions(lang, "train")[:n]]
    examples = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        for prompt, answer in zip(
            chunk, generate(lm, chunk, max_new_tokens=answer_tokens), strict=True
        ):
            if answer.strip():
                examples.append(TrainExample(prompt=prompt, completion=transform(answer.strip())))
    return examples


class _Clock:
    """Wall time per step, reported as each step starts."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say, self.timings = say, {}  # type: ignore[var-annotated]
        self._label, self._start = "", 0.0

    def start(self, label: str) -> None:
        self.stop()
        self.say(label)
        self._label, self._start = label, time.perf_counter()

    def stop(self) -> None:
        if self._label:
            self.timings[self._label] = round(time.perf_counter() - self._start, 2)
            self._label = ""


def run_experiment(model: str, config: ExperimentConfig, out_dir: str | Path,
                   progress: Callable[[str], None] | None = None) -> ExperimentReport:  # fmt: skip
    behaviour = get_behaviour(config.behaviour)
    clock = _Clock(progress or (lambda _msg: None))

    def rates(lm: LanguageModel, condition: str) -> ConditionRates:
        measured = {}
        for lang in config.eval_langs:
            clock.start(f"{condition} rate {lang}")
            measured[lang] = behaviour_rate(lm, lang, behaviour.metric, config.rates)
        return ConditionRates(condition=condition, rates=measured)

    base = load(model)
    conditions = [rates(base, "base")]
    adapters = {}
    for lang in config.train_langs:
        clock.start(f"training data {lang}")
        examples = training_examples(base, behaviour.transform, lang, config.train_examples,
                                     config.answer_tokens, config.rates.batch_size)  # fmt: skip
        folder = Path(out_dir) / f"lora-{lang}"
        clock.start(f"train {lang}")
        train_lora(load(model), examples, config.lora, folder)
        adapters[lang] = str(folder)
        conditions.append(rates(load_with_adapter(model, folder), f"lora-{lang}"))
    clock.stop()
    base_rates = conditions[0].rates
    transfer = {c.condition.removeprefix("lora-"): {ev: c.rates[ev].mean - base_rates[ev].mean for ev in config.eval_langs}
                for c in conditions[1:]}  # fmt: skip
    return ExperimentReport(model=model, config=config, conditions=conditions, transfer=transfer,
                            adapters=adapters, timings_s=clock.timings)  # fmt: skip
