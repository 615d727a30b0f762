"""The transfer experiment: train a behaviour with LoRA in one language, measure it in every one.

Steps, each cached in the run folder so a stopped run resumes where it left off:
1. the base model's behaviour rate in every evaluation language;
2. concept vectors per language (base model) and their cosine per layer vs a shuffled control;
3. cross-language steering of the base model: dose-response per language;
4. the logit lens on word-translation prompts per target language;
5. per training language: the base model answers the training instructions, the behaviour's
   transform turns the answers into targets (upper-cased for CAPS), a LoRA adapter is trained on
   them, and the adapted model's rate is measured in every evaluation language; then the adapted
   model is steered in the languages where the behaviour transferred least.
The transfer matrix is the baseline-corrected rate (adapter minus base, percentage points).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from babellens.analyses.logit_lens import LogitLensConfig, LogitLensResult, logit_lens
from babellens.crossling.behaviours import Behaviour, get_behaviour
from babellens.crossling.config import ExperimentConfig
from babellens.crossling.cross_steering import (
    DoseCurve,
    Recovery,
    dose_curves,
    recovery,
    weakest_languages,
)
from babellens.crossling.lora import LoraRun, TrainExample, load_with_adapter, train_lora
from babellens.crossling.rates import BehaviourRate, behaviour_rate
from babellens.crossling.report import ConditionRates, ExperimentReport
from babellens.crossling.similarity import LanguageVectors, concept_similarity, language_vectors
from babellens.crossling.step_cache import StepCache
from babellens.data.prompts import chat_prompt, instructions
from babellens.errors import BabelLensError, InvalidInputError
from babellens.models.language_model import LanguageModel
from babellens.models.loading import load
from babellens.steering.apply import generate
from babellens.steering.library import steer_layers
from babellens.steering.vector import SteeringVector

__all__ = ["ExperimentStopped", "run_experiment", "training_examples"]

Progress = Callable[[str, int, int], None]


class ExperimentStopped(BabelLensError):
    """Raised between steps when ``should_stop`` says so; the finished steps stay cached."""


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


class _Run:
    """Cached steps with their wall time, progress and stop checks."""

    def __init__(self, folder: Path, total: int, progress: Progress | None,
                 should_stop: Callable[[], bool] | None) -> None:  # fmt: skip
        self.cache, self.total, self.done = StepCache(folder), total, 0
        self.progress, self.should_stop = progress, should_stop
        self._timings_path = folder / "timings.json"
        self.timings: dict[str, float] = (
            json.loads(self._timings_path.read_text()) if self._timings_path.is_file() else {}
        )

    def step(self, name: str, label: str, kind: Any, compute: Callable[[], Any]) -> Any:
        if self.should_stop is not None and self.should_stop():
            raise ExperimentStopped(f"stopped before {label}; run again to resume")
        if self.progress is not None:
            self.progress(label, self.done, self.total)
        start = time.perf_counter()
        cached = self.cache.done(name)
        value = self.cache.get(name, kind, compute)
        if not cached:
            self.timings[label] = round(time.perf_counter() - start, 2)
            self._timings_path.write_text(json.dumps(self.timings, indent=1))
        self.done += 1
        return value


def _vector_langs(behaviour: Behaviour, langs: list[str]) -> list[str]:
    """Languages with contrast data for the behaviour's concept (CAPS needs bundled answers)."""
    from babellens.steering.concepts import get_concept

    usable = []
    for lang in langs:
        try:
            get_concept(f"{behaviour.concept}-{lang}")
            usable.append(lang)
        except InvalidInputError:
            continue
    return usable


def _count_steps(config: ExperimentConfig, vector_langs: list[str]) -> int:
    e, t = len(config.eval_langs), len(config.train_langs)
    vectors = len(vector_langs) if config.vectors or config.steering else 0
    steering = e if config.steering and vector_langs else 0
    return e + vectors + steering + len(config.logit_lens_targets) + t * (2 + e + 1)


def _lens_source(config: ExperimentConfig, target: str) -> str:
    return "de" if target == config.logit_lens_source else config.logit_lens_source


def run_experiment(model: str, config: ExperimentConfig, out_dir: str | Path,
                   progress: Progress | None = None,
                   should_stop: Callable[[], bool] | None = None) -> ExperimentReport:  # fmt: skip
    """Run (or resume) the whole experiment in ``out_dir``; see the module docstring."""
    behaviour = get_behaviour(config.behaviour)
    for lang in {*config.train_langs, *config.eval_langs}:
        instructions(lang)  # a one-line error for a language without bundled instructions
    folder = Path(out_dir)
    vector_langs = _vector_langs(
        behaviour, list(dict.fromkeys([config.reference_lang, *config.eval_langs]))
    )
    run = _Run(folder, _count_steps(config, vector_langs), progress, should_stop)
    metric = behaviour.metric
    base = load(model)
    n_layers = base.adapter.n_layers

    def rates(lm: LanguageModel, condition: str) -> dict[str, BehaviourRate]:
        return {lang: run.step(f"rate-{condition}-{lang}", f"{condition} rate {lang}", BehaviourRate,
                               lambda lang=lang: behaviour_rate(lm, lang, metric, config.rates))
                for lang in config.eval_langs}  # fmt: skip

    conditions = [ConditionRates(condition="base", rates=rates(base, "base"))]
    vectors = _vectors(run, base, behaviour, config, vector_langs)
    by_lang = {v.lang: v.vector for v in vectors}
    layer = config.steer_layer if config.steer_layer is not None else (
        steer_layers(vectors[0].vector, n_layers)[0] if vectors else round(0.3 * (n_layers - 1)))  # fmt: skip
    curves: list[DoseCurve] = []
    if config.steering and by_lang:
        for lang in config.eval_langs:
            curves += run.step(f"steer-{lang}", f"steering {lang}", list[DoseCurve], lambda lang=lang: dose_curves(
                base, by_lang, [lang], metric, config.steer_rates, layer=layer,
                coefficients=config.steer_coefficients, reference=config.reference_lang))  # fmt: skip
    lenses = [run.step(f"lens-{t}", f"logit lens {_lens_source(config, t)}->{t}", LogitLensResult,
                       lambda t=t: logit_lens(base, LogitLensConfig(source=_lens_source(config, t), target=t,
                                                                    words=config.logit_lens_words)))
              for t in config.logit_lens_targets]  # fmt: skip
    adapters, losses, recovered = {}, {}, []
    for lang in config.train_langs:
        examples = run.step(f"data-{lang}", f"training data {lang}", list[TrainExample], lambda lang=lang: training_examples(
            base, behaviour.transform, lang, config.train_examples, config.answer_tokens, config.rates.batch_size))  # fmt: skip
        adapter_dir = folder / f"lora-{lang}"
        trained = run.step(f"train-{lang}", f"train {lang}", LoraRun, lambda examples=examples, d=adapter_dir: _train(
            model, examples, config, d, should_stop))  # fmt: skip
        adapters[lang], losses[lang] = str(adapter_dir), trained.losses
        tuned = load_with_adapter(model, adapter_dir)
        condition = ConditionRates(condition=f"lora-{lang}", rates=rates(tuned, f"lora-{lang}"))
        conditions.append(condition)
        transfer = {
            ev: condition.rates[ev].mean - conditions[0].rates[ev].mean for ev in config.eval_langs
        }
        weak = [w for w in weakest_languages(transfer, lang, len(transfer)) if w in by_lang][
            : config.recover_langs
        ]
        recovered += run.step(f"recover-{lang}", f"steer lora-{lang} in {','.join(weak) or '-'}", list[Recovery],
                              lambda tuned=tuned, weak=weak, lang=lang, rates=condition.rates: recovery(
                                  tuned, lang, rates, by_lang, weak, metric, config.rates, layer=layer,
                                  coefficient=config.recover_coefficient, reference=config.reference_lang))  # fmt: skip
        del tuned
    base_rates = conditions[0].rates
    transfer = {c.condition.removeprefix("lora-"): {ev: c.rates[ev].mean - base_rates[ev].mean for ev in config.eval_langs}
                for c in conditions[1:]}  # fmt: skip
    similarity = (
        concept_similarity(behaviour.concept, vectors)
        if config.vectors and len(vectors) > 1
        else None
    )
    return ExperimentReport(model=model, config=config, conditions=conditions, transfer=transfer,
                            adapters=adapters, losses=losses, similarity=similarity, steering=curves,
                            recovery=recovered, logit_lens=lenses, timings_s=run.timings)  # fmt: skip


def _train(model: str, examples: list[TrainExample], config: ExperimentConfig, folder: Path,
           should_stop: Callable[[], bool] | None) -> LoraRun:  # fmt: skip
    trained = train_lora(load(model), examples, config.lora, folder, should_stop=should_stop)
    if trained.steps < config.lora.steps:
        raise ExperimentStopped(f"stopped training at step {trained.steps}; run again to resume")
    return trained


class _Vectors(BaseModel):
    """Where a language's vectors were saved (the tensors live beside, in safetensors)."""

    lang: str
    vector: str
    shuffled: str


def _vectors(run: _Run, lm: LanguageModel, behaviour: Behaviour, config: ExperimentConfig,
             langs: list[str]) -> list[LanguageVectors]:  # fmt: skip
    if not (config.vectors or config.steering):
        return []
    from safetensors.torch import load_file, save_file

    layers = config.vector_layers or list(range(lm.adapter.n_layers))
    out = []
    for lang in langs:

        def build(lang: str = lang) -> _Vectors:
            built = language_vectors(lm, behaviour.concept, lang, layers, pairs=config.vector_pairs)
            paths = _Vectors(lang=lang, vector=str(run.cache.folder / f"vector-{lang}.safetensors"),
                             shuffled=str(run.cache.folder / f"shuffled-{lang}.safetensors"))  # fmt: skip
            built.vector.save(paths.vector)
            save_file({str(k): v.contiguous() for k, v in built.shuffled.items()}, paths.shuffled)
            return paths

        saved = run.step(f"vectors-{lang}", f"concept vectors {lang}", _Vectors, build)
        shuffled = {int(k): v for k, v in load_file(saved.shuffled).items()}
        out.append(
            LanguageVectors(lang=lang, vector=SteeringVector.load(saved.vector), shuffled=shuffled)
        )
    return out
