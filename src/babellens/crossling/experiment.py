"""The transfer experiment: train a behaviour with LoRA in one language, measure it in every one.

Steps, each kept in the run control's checkpoint (its result as JSON, concept vectors as
tensors) as soon as it is done, so a stopped or killed run resumes where it left off; only the
LoRA adapters are files in the run folder (peft writes and reads them as folders, and an adapter
is used after the run, by id), with the half-trained adapter's own checkpoint beside them:
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

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from babellens.analyses.logit_lens import LogitLensConfig, LogitLensResult, logit_lens
from babellens.capture.language_model import LanguageModel, load
from babellens.control import FileControl, RunControl
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
from babellens.crossling.steps import ExperimentStopped, StepControl, StepRun
from babellens.crossling.training_data import examples_from_file, training_examples
from babellens.data.prompts import instructions
from babellens.errors import InvalidInputError
from babellens.steering.library import steer_layers
from babellens.steering.vector import SteeringVector, VectorInfo

__all__ = ["STATE_FILE", "ExperimentStopped", "extended_config", "run_experiment"]

STATE_FILE = "state.safetensors"
"""The run folder's checkpoint when no run control is given (a library call)."""


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
    control: RunControl | None = None,
) -> ExperimentReport:
    """Run (or resume) the whole experiment; see the module docstring. Without a ``control`` the
    checkpoint is the run folder's :data:`STATE_FILE`, so the next call resumes from it."""
    folder = Path(out_dir)
    behaviour = get_behaviour(config.behaviour)
    for lang in {*config.train_langs, *config.eval_langs}:
        instructions(lang)  # a one-line error for a language without bundled instructions
    vector_langs = _vector_langs(
        behaviour, list(dict.fromkeys([config.reference_lang, *config.eval_langs]))
    )
    control = control or FileControl(path=folder / STATE_FILE)
    run = StepRun(folder, _count_steps(config, vector_langs), control)
    ex = _Experiment(run, model, config, behaviour, load(model))
    base = ConditionRates(condition="base", rates=ex.rates(ex.base, "base"))
    vectors = _vectors(run, ex.base, behaviour, config, vector_langs)
    ex.vectors = {v.lang: v.vector for v in vectors}
    ex.layer = _steer_layer(config, vectors, ex.base.adapter.n_layers)
    curves, lenses = ex.steering_curves(), ex.lenses()
    adapted = [ex.adapter(lang, base.rates) for lang in config.train_langs]
    similarity = (
        concept_similarity(behaviour.concept, vectors)
        if config.vectors and len(vectors) > 1
        else None
    )
    return ExperimentReport(
        model=model,
        config=config,
        conditions=[base, *(condition for condition, _, _ in adapted)],
        transfer={
            c.condition.removeprefix("lora-"): _transfer(c.rates, base.rates) for c, _, _ in adapted
        },
        adapters={
            lang: t.adapter_dir for lang, (_, t, _) in zip(config.train_langs, adapted, strict=True)
        },
        losses={
            lang: t.losses for lang, (_, t, _) in zip(config.train_langs, adapted, strict=True)
        },
        similarity=similarity,
        steering=curves,
        recovery=[r for _, _, steered in adapted for r in steered],
        logit_lens=lenses,
        timings_s=run.timings,
    )


def _steer_layer(config: ExperimentConfig, vectors: list[LanguageVectors], n_layers: int) -> int:
    """The configured layer, else the first the vector suggests, else 30% of the depth."""
    if config.steer_layer is not None:
        return config.steer_layer
    if vectors:
        return steer_layers(vectors[0].vector, n_layers)[0]
    return round(0.3 * (n_layers - 1))


def _transfer(rates: dict[str, BehaviourRate], base: dict[str, BehaviourRate]) -> dict[str, float]:
    return {lang: rates[lang].mean - base[lang].mean for lang in rates}


class _Experiment:
    """The steps of one run, sharing its cache, config, base model, vectors and steering layer."""

    def __init__(
        self,
        run: StepRun,
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
        examples = self.training_data(lang)
        trained = self.train(lang, examples)
        tuned = load_with_adapter(self.model, trained.adapter_dir)
        condition = ConditionRates(
            condition=f"lora-{lang}", rates=self.rates(tuned, f"lora-{lang}")
        )
        return condition, trained, self.recover(lang, tuned, condition, base_rates)

    def training_data(self, lang: str) -> list[TrainExample]:
        """The user's file for ``lang``, else the base model's own answers, transformed."""
        config, path = self.config, self.config.train_files.get(lang)
        return self.run.step(
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

    def train(self, lang: str, examples: list[TrainExample]) -> LoraRun:
        """A LoRA adapter in the run folder (files: peft's), stopped and resumed with the run."""
        label, folder = f"train {lang}", self.run.folder / f"lora-{lang}"

        def compute() -> LoraRun:
            lora = self.config.lora
            control = StepControl(self.run, label)
            trained = train_lora(load(self.model), examples, lora, folder, control=control)
            if trained.steps < lora.steps:
                raise ExperimentStopped(
                    f"stopped training at step {trained.steps}; run again to resume"
                )
            return trained

        return self.run.step(f"train-{lang}", label, LoraRun, compute)

    def recover(
        self,
        lang: str,
        tuned: LanguageModel,
        condition: ConditionRates,
        base_rates: dict[str, BehaviourRate],
    ) -> list[Recovery]:
        """Steer the adapted model in the languages the behaviour reached least."""
        config = self.config
        transfer = _transfer(condition.rates, base_rates)
        weak = [w for w in weakest_languages(transfer, lang, len(transfer)) if w in self.vectors]
        weak = weak[: config.recover_langs]
        return self.run.step(
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


def _by_lang(langs: list[str], curves: list[DoseCurve]) -> list[list[DoseCurve]]:
    return [[c for c in curves if c.lang == lang] for lang in langs]


class _Vectors(BaseModel):
    """A language's vector as a step result: its info; the directions, and those of its
    shuffled-label twin, are tensors of the checkpoint (``vectors.LANG.LAYER``, ``shuffled...``)."""

    lang: str
    info: VectorInfo
    layers: list[int]
    shuffled_layers: list[int]


def _vectors(
    run: StepRun,
    lm: LanguageModel,
    behaviour: Behaviour,
    config: ExperimentConfig,
    langs: list[str],
) -> list[LanguageVectors]:
    if not (config.vectors or config.steering):
        return []
    layers = config.vector_layers or list(range(lm.adapter.n_layers))
    out = []
    for lang in langs:

        def build(lang: str = lang) -> _Vectors:
            built = language_vectors(lm, behaviour.concept, lang, layers, pairs=config.vector_pairs)
            # as a saved vector file kept them: float32 on the host (shuffled: as built)
            for layer, direction in built.vector.directions.items():
                run.tensors[f"vectors.{lang}.{layer}"] = direction.detach().float().cpu()
            for layer, direction in built.shuffled.items():
                run.tensors[f"shuffled.{lang}.{layer}"] = direction.detach().cpu()
            return _Vectors(
                lang=lang,
                info=built.vector.info,
                layers=sorted(built.vector.directions),
                shuffled_layers=sorted(built.shuffled),
            )

        saved = run.step(f"vectors-{lang}", f"concept vectors {lang}", _Vectors, build)
        out.append(_language_vectors(run, saved))
    return out


def _language_vectors(run: StepRun, saved: _Vectors) -> LanguageVectors:
    lang = saved.lang
    vector = SteeringVector(
        info=saved.info,
        directions={layer: run.tensors[f"vectors.{lang}.{layer}"] for layer in saved.layers},
    )
    shuffled = {layer: run.tensors[f"shuffled.{lang}.{layer}"] for layer in saved.shuffled_layers}
    return LanguageVectors(lang=lang, vector=vector, shuffled=shuffled)
