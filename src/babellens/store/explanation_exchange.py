"""Explanations in and out in Neuronpedia's explanation export format.

Neuronpedia's ``/api/explanation/export`` is a JSON list of ``{modelId, layer, index,
description, explanationModelName, typeName}`` with ``layer`` a source id such as ``6-res-jb``
and ``index`` a string. A neuron layer is written ``{layer}-mlp``; a dictionary's features
``{layer}-{source}``; reading back, the leading number is the layer and the rest the source.
Scores travel in an extra ``scores`` field that Neuronpedia ignores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from babellens.autointerp.pipeline import ExplainedUnit
from babellens.autointerp.units import NEURON_SOURCE, UnitRef
from babellens.errors import InvalidInputError
from babellens.store.database import Database
from babellens.store.explanations import ExplanationStore, StoredExplanation
from babellens.store.jobs import JobStore

__all__ = ["from_neuronpedia", "import_neuronpedia", "to_neuronpedia"]

_LAYER = re.compile(r"^(\d+)-(.+)$")
IMPORT_KIND = "explain_import"


def _layer_id(unit: UnitRef) -> str:
    return f"{unit.layer}-mlp" if unit.source == NEURON_SOURCE else f"{unit.layer}-{unit.source}"


def to_neuronpedia(
    explanations: Sequence[StoredExplanation], model_id: str
) -> list[dict[str, Any]]:
    return [
        {
            "modelId": model_id,
            "layer": _layer_id(e.unit),
            "index": str(e.unit.index),
            "description": e.text,
            "explanationModelName": e.explainer,
            "typeName": f"babellens-{e.prompt_version}",
            "scores": {
                "detection": e.detection,
                "detection_random": e.detection_random,
                "fuzzing": e.fuzzing,
                "fuzzing_random": e.fuzzing_random,
            },
        }
        for e in explanations
    ]


def from_neuronpedia(records: Sequence[dict[str, Any]]) -> list[ExplainedUnit]:
    """Records -> explanations without scores (Neuronpedia's own scores are not ours to copy)."""
    units = []
    for i, rec in enumerate(records):
        try:
            layer_id, index, text = str(rec["layer"]), int(rec["index"]), str(rec["description"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInputError(
                f"record {i} is not a Neuronpedia explanation: it needs layer, index and description"
            ) from None
        match = _LAYER.match(layer_id)
        if not match:
            raise InvalidInputError(f"record {i}: layer {layer_id!r} does not start with a number")
        source = NEURON_SOURCE if match[2] == "mlp" else match[2]
        units.append(
            ExplainedUnit(
                unit=UnitRef(source=source, layer=int(match[1]), index=index),
                explanation=text.strip(),
                explainer=f"neuronpedia:{rec.get('explanationModelName') or 'unknown'}",
                judge="",
                prompt_version=str(rec.get("typeName") or "neuronpedia"),
                scores=[],
                n_activating=0,
                threshold=0.0,
                max_activation=0.0,
                train_examples=[],
                test_examples=[],
                top_tokens=[],
            )
        )
    return units


def import_neuronpedia(db: Database, model: str, records: Sequence[dict[str, Any]]) -> int:
    """Store the records under a new finished job of kind ``explain_import``; returns the job id."""
    units = from_neuronpedia(records)
    jobs = JobStore(db)
    job = jobs.create(IMPORT_KIND, model, {"records": len(units)})
    ExplanationStore(db).save(job.id, model, units)
    jobs.finish(job.id, "done", summary={"imported": len(units)})
    return job.id
