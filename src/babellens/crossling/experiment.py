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
from babellens.crossling.rates import BehaviourRate, behaviour_rates
from babellens.crossling.report import ConditionRates, ExperimentReport
from babellens.crossling.similarity import LanguageVectors, concept_similarity, language_vectors
from babellens.crossling.step_cache import StepCache
from babellens.crossling.training_data import examples_from_file, training_examples
from babellens.data.prompts import instructions
from babellens.errors import BabelLensError, InvalidInputError
from babellens.models.language_model import LanguageModel
from babellens.models.loading import load
from babellens.steering.library import steer_layers
from babellens.steering.vector import SteeringVector

__all__ = ["ExperimentStopped", "extended_config", "run_experiment"]

Progress = Callable[[str, int, int], None]


class ExperimentStopped(BabelLensError):
    """Raised between steps when ``should_stop`` says so; the finished steps stay cached."""


class _Run:
    """Cached steps with their wall time, progress and stop checks."""

    def __init__(
        self,
        folder: Path,
        total: int,
        progress: Progress | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.cache, self.total, self.done = StepCache(folder), total, 0
        self.progress, self.should_stop = progress, should_stop
        self._timings_path = folder / "timings.json"
        self.timings: dict[str, float] = (
            json.loads(self._timings_path.read_text()) if self._timings_path.is_file() else {}
        )

    def step(self, name: str, label: str, kind: Any, compute: Callable[[], Any]) -> Any:
        return self.steps([name], label, kind, lambda _missing: [compute()])[0]

    def steps(
        self, names: list[str], label: str, kind: Any, compute: Callable[[list[int]], list[Any]]
    ) -> list[Any]:
        """Named steps computed together, in shared batches: ``compute`` gets the indices of the
        missing ones and returns their values, each then cached under its own name (so a folder
        written step by step resumes here too)."""
        if self.should_stop is not None and self.should_stop():
            raise ExperimentStopped(f"stopped before {label}; run again to resume")
        if self.progress is not None:
            self.progress(label, self.done, self.total)
        missing = [i for i, name in enumerate(names) if not self.cache.done(name)]
        if missing:
            start = time.perf_counter()
            for i, value in zip(missing, compute(missing), strict=True):
                self.cache.write(names[i], kind, value)
            self.timings[label] = round(time.perf_counter() - start, 2)
            self._timings_path.write_text(json.dumps(self.timings, indent=1))
        self.done += len(names)
        return [self.cache.read(name, kind) for name in names]


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


def extended_config(
    params: dict[str, Any], train_langs: list[str], train_files: dict[str, str] | None = None
) -> ExperimentConfig:
    """A stored run's config with further training languages (all settings else unchanged, so
    every step the run already finished stays valid and comes from its cache)."""
    config = ExperimentConfig(**params)
    for lang in train_langs:
        instructions(lang)  # a one-line error for a language without bundled instructions
    new = [lang for lang in dict.fromkeys(train_langs) if lang not in config.train_langs]
    if not new:
        raise InvalidInputError(
            f"the run already trained {', '.join(config.train_langs)}: name another language"
        )
    files = {**config.train_files, **{k: v for k, v in (train_files or {}).items() if k in new}}
    return ExperimentConfig.model_validate(
        {**config.model_dump(), "train_langs": [*config.train_langs, *new], "train_files": files}
    )


def _count_steps(config: ExperimentConfig, vector_langs: list[str]) -> int:
    e, t = len(config.eval_langs), len(config.train_langs)
    vectors = len(vector_langs) if config.vectors or config.steering else 0
    steering = e if config.steering and vector_langs else 0
    return e + vectors + steering + len(config.logit_lens_targets) + t * (2 + e + 1)


def _lens_source(config: ExperimentConfig, target: str) -> str:
    return "de" if target == config.logit_lens_source else config.logit_lens_source


def run_experiment(
    model: str,
    config: ExperimentConfig,
    out_dir: str | Path,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExperimentReport:
    """Run (or resume) the whole experiment in ``out_dir``; see the module docstring."""
    behaviour = get_behaviour(config.behaviour)
    for lang in {*config.train_langs, *config.eval_langs}:
        instructions(lang)  # a one-line error for a language without bundled instructions
    vector_langs = _vector_langs(
        behaviour, list(dict.fromkeys([config.reference_lang, *config.eval_langs]))
    )
    run = _Run(Path(out_dir), _count_steps(config, vector_langs), progress, should_stop)
    ex = _Experiment(run, model, config, behaviour, load(model))
    conditions = [ConditionRates(condition="base", rates=ex.rates(ex.base, "base"))]
    vectors = _vectors(run, ex.base, behaviour, config, vector_langs)
    ex.vectors = {v.lang: v.vector for v in vectors}
    n_layers = ex.base.adapter.n_layers
    ex.layer = (
        config.steer_layer
        if config.steer_layer is not None
        else (
            steer_layers(vectors[0].vector, n_layers)[0] if vectors else round(0.3 * (n_layers - 1))
        )
    )
    curves, lenses = ex.steering_curves(), ex.lenses()
    adapters, losses, recovered = {}, {}, []
    for lang in config.train_langs:
        condition, trained, steered = ex.adapter(lang, conditions[0].rates)
        conditions.append(condition)
        adapters[lang], losses[lang], recovered = (
            trained.adapter_dir,
            trained.losses,
            recovered + steered,
        )
    base_rates = conditions[0].rates
    transfer = {
        c.condition.removeprefix("lora-"): _transfer(c.rates, base_rates) for c in conditions[1:]
    }
    similarity = (
        concept_similarity(behaviour.concept, vectors)
        if config.vectors and len(vectors) > 1
        else None
    )
    return ExperimentReport(
        model=model,
        config=config,
        conditions=conditions,
        transfer=transfer,
        adapters=adapters,
        losses=losses,
        similarity=similarity,
        steering=curves,
        recovery=recovered,
        logit_lens=lenses,
        timings_s=run.timings,
    )


def _transfer(rates: dict[str, BehaviourRate], base: dict[str, BehaviourRate]) -> dict[str, float]:
    return {lang: rates[lang].mean - base[lang].mean for lang in rates}


class _Experiment:
    """The steps of one run, sharing its cache, config, base model, vectors and steering layer."""

    def __init__(
        self,
        run: _Run,
        model: str,
        config: ExperimentConfig,
        behaviour: Behaviour,
        base: LanguageModel,
    ) -> None:
        self.run, self.model, self.config, self.base = run, model, config, base
        self.behaviour, self.metric = behaviour, behaviour.metric
        self.vectors: dict[str, SteeringVector] = {}
        self.layer = 0

    def rates(self, lm: LanguageModel, condition: str) -> dict[str, BehaviourRate]:
        langs = self.config.eval_langs
        rates = self.run.steps(
            [f"rate-{condition}-{lang}" for lang in langs],
            f"{condition} rates",
            BehaviourRate,
            lambda missing: behaviour_rates(
                lm, [(langs[i], None) for i in missing], self.metric, self.config.rates
            ),
        )
        return dict(zip(langs, rates, strict=True))

    def steering_curves(self) -> list[DoseCurve]:
        config = self.config
        if not (config.steering and self.vectors):
            return []
        langs = config.eval_langs
        per_lang = self.run.steps(
            [f"steer-{lang}" for lang in langs],
            "steering curves",
            list[DoseCurve],
            lambda missing: _by_lang(
                [langs[i] for i in missing],
                dose_curves(
                    self.base,
                    self.vectors,
                    [langs[i] for i in missing],
                    self.metric,
                    config.steer_rates,
                    layer=self.layer,
                    coefficients=config.steer_coefficients,
                    reference=config.reference_lang,
                ),
            ),
        )
        return [curve for curves in per_lang for curve in curves]

    def lenses(self) -> list[LogitLensResult]:
        config = self.config
        return [
            self.run.step(
                f"lens-{t}",
                f"logit lens {_lens_source(config, t)}->{t}",
                LogitLensResult,
                lambda t=t: logit_lens(
                    self.base,
                    LogitLensConfig(
                        source=_lens_source(config, t), target=t, words=config.logit_lens_words
                    ),
                ),
            )
            for t in config.logit_lens_targets
        ]

    def adapter(
        self, lang: str, base_rates: dict[str, BehaviourRate]
    ) -> tuple[ConditionRates, LoraRun, list[Recovery]]:
        """Training data, LoRA, rates in every language, steering where transfer was weakest."""
        run, config = self.run, self.config
        path = config.train_files.get(lang)
        examples = run.step(
            f"data-{lang}",
            f"training data {lang}",
            list[TrainExample],
            lambda: (
                examples_from_file(self.base, path)
                if path
                else training_examples(
                    self.base,
                    self.behaviour.transform,
                    lang,
                    config.train_examples,
                    config.answer_tokens,
                    config.rates.batch_size,
                )
            ),
        )
        folder = run.cache.folder / f"lora-{lang}"
        trained = run.step(
            f"train-{lang}",
            f"train {lang}",
            LoraRun,
            lambda: _train(self.model, examples, config, folder, run.should_stop),
        )
        tuned = load_with_adapter(self.model, folder)
        condition = ConditionRates(
            condition=f"lora-{lang}", rates=self.rates(tuned, f"lora-{lang}")
        )
        transfer = _transfer(condition.rates, base_rates)
        weak = [w for w in weakest_languages(transfer, lang, len(transfer)) if w in self.vectors]
        weak = weak[: config.recover_langs]
        steered = run.step(
            f"recover-{lang}",
            f"steer lora-{lang} in {','.join(weak) or '-'}",
            list[Recovery],
            lambda: recovery(
                tuned,
                lang,
                condition.rates,
                self.vectors,
                weak,
                self.metric,
                config.rates,
                layer=self.layer,
                coefficient=config.recover_coefficient,
                reference=config.reference_lang,
            ),
        )
        return condition, trained, steered


def _by_lang(langs: list[str], curves: list[DoseCurve]) -> list[list[DoseCurve]]:
    return [[c for c in curves if c.lang == lang] for lang in langs]


def _train(
    model: str,
    examples: list[TrainExample],
    config: ExperimentConfig,
    folder: Path,
    should_stop: Callable[[], bool] | None,
) -> LoraRun:
    trained = train_lora(load(model), examples, config.lora, folder, should_stop=should_stop)
    if trained.steps < config.lora.steps:
        raise ExperimentStopped(f"stopped training at step {trained.steps}; run again to resume")
    return trained


class _Vectors(BaseModel):
    """Where a language's vectors were saved (the tensors live beside, in safetensors)."""

    lang: str
    vector: str
    shuffled: str


def _vectors(
    run: _Run, lm: LanguageModel, behaviour: Behaviour, config: ExperimentConfig, langs: list[str]
) -> list[LanguageVectors]:
    if not (config.vectors or config.steering):
        return []
    from safetensors.torch import load_file, save_file

    layers = config.vector_layers or list(range(lm.adapter.n_layers))
    out = []
    for lang in langs:

        def build(lang: str = lang) -> _Vectors:
            built = language_vectors(lm, behaviour.concept, lang, layers, pairs=config.vector_pairs)
            paths = _Vectors(
                lang=lang,
                vector=str(run.cache.folder / f"vector-{lang}.safetensors"),
                shuffled=str(run.cache.folder / f"shuffled-{lang}.safetensors"),
            )
            built.vector.save(paths.vector)
            save_file({str(k): v.contiguous() for k, v in built.shuffled.items()}, paths.shuffled)
            return paths

        saved = run.step(f"vectors-{lang}", f"concept vectors {lang}", _Vectors, build)
        shuffled = {int(k): v for k, v in load_file(saved.shuffled).items()}
        out.append(
            LanguageVectors(lang=lang, vector=SteeringVector.load(saved.vector), shuffled=shuffled)
        )
    return out
