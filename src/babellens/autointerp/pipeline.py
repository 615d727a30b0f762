"""Explain and score a set of units: sample, explain in batches, score against random explanations.

Two phases, each checkpointed after every batch of units through the run control: explanations
first (so every unit's random baseline, another unit's explanation, exists before scoring
starts), then scores. The partner that lends a unit its random explanation comes from a seeded
derangement of the units, so a run killed and resumed pairs, samples and scores exactly as an
uninterrupted one.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from babellens.autointerp.activations import LayerActivations, collect_neuron_activations
from babellens.autointerp.explainers import Explainer
from babellens.autointerp.sampling import SamplerConfig, UnitExamples, sample_unit
from babellens.autointerp.scoring import SCORERS, Judge, Score, samples_for, score_samples
from babellens.autointerp.unit_prompts import UNIT_PROMPT_VERSION
from babellens.autointerp.units import NEURON_SOURCE, UnitRef
from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.data.windows import Window
from babellens.errors import InvalidInputError

__all__ = [
    "ExplainConfig",
    "ExplainedUnit",
    "UnitScore",
    "explain_units",
    "explained_unit",
    "random_partners",
    "sample_examples",
    "score_unit",
    "unit_activations",
]


class ExplainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    scorers: list[str] = Field(default_factory=lambda: list(SCORERS), min_length=1)
    batch_units: int = Field(16, ge=1, le=1024, description="Units per batch (and checkpoint)")
    seed: int = 0


class UnitScore(BaseModel):
    score: Score
    random: Score | None = Field(description="The same scorer on another unit's explanation")
    random_of: UnitRef | None = Field(description="The unit whose explanation was the random one")


class ExplainedUnit(BaseModel):
    unit: UnitRef
    explanation: str
    explainer: str
    judge: str
    prompt_version: str = UNIT_PROMPT_VERSION
    scores: list[UnitScore]
    n_activating: int
    threshold: float
    max_activation: float
    train_examples: list[tuple[int, int]] = Field(
        description="(window, start) of each shown example"
    )
    test_examples: list[tuple[int, int]]
    top_tokens: list[str] = Field(description="Token strings marked in the training examples")


def random_partners(keys: Sequence[str], seed: int) -> dict[str, str]:
    """Each key's partner: a seeded derangement (nobody is their own partner) over sorted keys."""
    order = sorted(keys)
    if len(order) < 2:
        return {}
    random.Random(seed).shuffle(order)
    return {order[i]: order[(i + 1) % len(order)] for i in range(len(order))}


def unit_activations(
    lm: LanguageModel,
    windows: Sequence[Window],
    units: Sequence[UnitRef],
    control: RunControl | None = None,
) -> dict[int, LayerActivations]:
    """The activations of the units' layers (public for callers that explain on Ray actors)."""
    sources = {u.source for u in units}
    if sources - {NEURON_SOURCE}:
        raise InvalidInputError(
            f"unit source(s) {sorted(sources - {NEURON_SOURCE})} cannot be explained yet without "
            "their activations: pass activations= from collect_feature_activations, "
            f"or use {NEURON_SOURCE!r} units"
        )
    layers = sorted({u.layer for u in units})
    acts = collect_neuron_activations(lm, windows, layers, control=control or LocalControl())
    for u in units:
        if u.index >= acts[u.layer].n_units:
            raise InvalidInputError(
                f"unit {u} out of range: layer {u.layer} has {acts[u.layer].n_units} units"
            )
    return acts


def sample_examples(
    lm: LanguageModel,
    acts: dict[int, LayerActivations],
    units: Sequence[UnitRef],
    sampler: SamplerConfig,
) -> dict[str, UnitExamples]:
    """Each unit's examples (units that fire too rarely left out), seeded per unit, so any
    process sampling a unit from the same activations gets the same examples."""
    decode = [lm.token_strings(ids) for ids in next(iter(acts.values())).token_ids]
    return {
        u.key: ex
        for u in units
        if (ex := sample_unit(acts[u.layer], u.index, decode, sampler)) is not None
    }


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def explain_units(
    lm: LanguageModel,
    windows: Sequence[Window],
    units: Sequence[UnitRef],
    explainer: Explainer,
    judge: Judge,
    config: ExplainConfig | None = None,
    control: RunControl | None = None,
    activations: dict[int, LayerActivations] | None = None,
) -> list[ExplainedUnit]:
    """Explained and scored units, in the order given; units that fire too rarely are left out.

    ``activations`` (from :func:`collect_neuron_activations` on the same windows) skips the
    forward pass, e.g. to compare explainers on the same sample."""
    config = config or ExplainConfig()
    control = control or LocalControl()
    unknown = sorted(set(config.scorers) - set(SCORERS))
    if unknown:
        raise InvalidInputError(f"unknown scorer(s) {unknown}: use {', '.join(SCORERS)}")
    acts = activations if activations is not None else unit_activations(lm, windows, units, control)
    by_key = {u.key: u for u in units}
    examples = sample_examples(lm, acts, units, config.sampler)
    keys = [u.key for u in units if u.key in examples]
    state = control.load_state()
    meta = dict(state.meta) if state is not None else {}
    texts: dict[str, str] = meta.get("explanations", {})
    scores: dict[str, list[dict]] = meta.get("scores", {})
    total = 2 * len(keys)

    def checkpoint(message: str) -> None:
        done = len(texts) + len(scores)
        control.save_state({}, {"explanations": texts, "scores": scores}, done)
        control.progress(done, total, "units", message)
        if control.should_stop():
            raise StopRequested

    for chunk in _chunks([k for k in keys if k not in texts], config.batch_units):
        made = explainer.explain_many([examples[k] for k in chunk])
        texts.update(zip(chunk, made, strict=True))
        checkpoint(f"explained {len(texts)}/{len(keys)} units")
    partners = random_partners(keys, config.seed)
    for chunk in _chunks([k for k in keys if k not in scores], config.batch_units):
        for key in chunk:
            scores[key] = [
                score_unit(scorer, key, partners.get(key), texts, examples[key], judge, config)
                for scorer in config.scorers
            ]
        checkpoint(f"scored {len(scores)}/{len(keys)} units")
    return [
        explained_unit(by_key[k], texts[k], scores[k], examples[k], explainer, judge) for k in keys
    ]


def score_unit(
    scorer: str,
    key: str,
    partner: str | None,
    texts: dict[str, str],
    unit: UnitExamples,
    judge: Judge,
    config: ExplainConfig,
) -> dict:
    """One scorer's score of ``key``'s explanation and of its partner's (the random baseline);
    the samples are seeded by the unit, so the score is the same in whichever process runs it."""
    samples = samples_for(scorer, unit, f"{config.seed}/{scorer}/{key}")
    own = score_samples(scorer, samples, judge.judge(texts[key], samples))
    other = None
    if partner is not None:
        other = score_samples(scorer, samples, judge.judge(texts[partner], samples))
    return {
        "score": own.model_dump(),
        "random": other.model_dump() if other else None,
        "random_of": partner,
    }


def explained_unit(
    unit: UnitRef,
    text: str,
    scores: list[dict],
    ex: UnitExamples,
    explainer: Explainer,
    judge: Judge,
) -> ExplainedUnit:
    """What is stored of an explained and scored unit."""
    from babellens.autointerp.units import parse_unit

    marked = Counter(e.tokens[p] for e in ex.train for p in e.marked)
    return ExplainedUnit(
        unit=unit,
        explanation=text,
        explainer=explainer.name,
        judge=judge.name,
        scores=[
            UnitScore(
                score=Score(**s["score"]),
                random=Score(**s["random"]) if s["random"] else None,
                random_of=parse_unit(s["random_of"]) if s["random_of"] else None,
            )
            for s in scores
        ],
        n_activating=ex.n_activating,
        threshold=ex.threshold,
        max_activation=max(e.max for e in ex.train),
        train_examples=[(e.window, e.start) for e in ex.train],
        test_examples=[(e.window, e.start) for e in ex.test],
        top_tokens=[t for t, _ in marked.most_common(50)],
    )
