"""Explain and score units on Ray actors: the same two phases as
:func:`~babellens.autointerp.pipeline.explain_units`, each a fan-out of unit batches.

Every actor loads the subject model once, builds the explainer and judge from the job's
parameters, and collects the activations of the units' layers once (the examples of a unit are
seeded by the unit, so every actor samples the same ones). Phase one explains batches of units;
the driver then pairs every unit with its random partner (the same seeded derangement) and phase
two scores batches, sending each batch the explanations it needs. Both phases' finished batches
are in the job's checkpoint, so a resumed job asks no provider twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from babellens.autointerp.pipeline import (
    ExplainConfig,
    ExplainedUnit,
    explained_unit,
    random_partners,
    sample_examples,
    score_unit,
    unit_activations,
)
from babellens.autointerp.units import UnitRef, parse_unit
from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.data.windows import Window
from babellens.jobs.ray_fanout import FanOutPool, RayOptions

__all__ = ["ray_explain_units"]


@dataclass(frozen=True)
class _ExplainTask:
    params: dict[str, Any]  # the job's ExplainParams: the actor builds explainer and judge
    windows: list[Window]
    units: list[str]
    config: dict[str, Any]

    def bind(self, lm: LanguageModel) -> Callable[[dict[str, Any]], bytes]:
        return _ExplainActor(lm, self).handle


class _ExplainActor:
    def __init__(self, lm: LanguageModel, task: _ExplainTask) -> None:
        from babellens.jobs.explain_job import ExplainParams, build_pair

        self.lm, self.task = lm, task
        self.config = ExplainConfig(**task.config)
        self.explainer, self.judge = build_pair(ExplainParams(**task.params))
        self._examples: dict[str, Any] | None = None

    def examples(self) -> dict[str, Any]:
        if self._examples is None:
            units = [parse_unit(u) for u in self.task.units]
            acts = unit_activations(self.lm, self.task.windows, units)
            self._examples = sample_examples(self.lm, acts, units, self.config.sampler)
        return self._examples

    def handle(self, item: dict[str, Any]) -> bytes:
        examples = self.examples()
        if item["phase"] == "explain":
            keys = [k for k in item["keys"] if k in examples]
            texts = self.explainer.explain_many([examples[k] for k in keys])
            return json.dumps(dict(zip(keys, texts, strict=True))).encode()
        texts, partners = item["texts"], item["partners"]
        results = []
        for key in item["keys"]:
            scores = [
                score_unit(s, key, partners.get(key), texts, examples[key], self.judge, self.config)
                for s in self.config.scorers
            ]
            unit = explained_unit(
                parse_unit(key), texts[key], scores, examples[key], self.explainer, self.judge
            )
            results.append(unit.model_dump(mode="json"))
        return json.dumps(results).encode()


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def ray_explain_units(
    model: str,
    windows: Sequence[Window],
    units: Sequence[UnitRef],
    params: dict[str, Any],
    config: ExplainConfig,
    options: RayOptions,
    control: RunControl | None = None,
) -> list[ExplainedUnit]:
    """:func:`~babellens.autointerp.pipeline.explain_units` on Ray actors (the same results)."""
    keys = [u.key for u in units]
    task = _ExplainTask(params, list(windows), keys, config.model_dump())
    batches = _chunks(keys, config.batch_units)
    with FanOutPool(model, task, options, control=control, actors=len(batches)) as pool:
        explained = pool.map(
            [{"phase": "explain", "keys": chunk} for chunk in batches],
            phase="explain",
            weights=[len(chunk) for chunk in batches],
            unit="units",
        )
        texts: dict[str, str] = {}
        for data in explained:
            texts.update(json.loads(data))
        kept = [k for k in keys if k in texts]
        partners = random_partners(kept, config.seed)
        items = []
        for chunk in _chunks(kept, config.batch_units):
            needed = {*chunk, *(partners[k] for k in chunk if k in partners)}
            items.append(
                {
                    "phase": "score",
                    "keys": chunk,
                    "texts": {k: texts[k] for k in sorted(needed)},
                    "partners": {k: partners[k] for k in chunk if k in partners},
                }
            )
        scored = pool.map(
            items, phase="score", weights=[len(i["keys"]) for i in items], unit="units"
        )
    return [ExplainedUnit.model_validate(unit) for data in scored for unit in json.loads(data)]
