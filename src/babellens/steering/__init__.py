"""Steering vectors: build them from contrast data, apply them while the model runs, and measure
what they do and what they cost.

    from babellens import steering
    vec = steering.build(lm, steering.concept_contrast("caps", lm), layers=[12], read="completion_mean")
    with steering.apply(lm, vec, coefficient=6.0):
        lm.model.generate(...)
    report = steering.evaluate(lm, vec, prompts, "uppercase_fraction")
"""

from typing import Any

from babellens.steering.apply import apply, generate, steering_interventions
from babellens.steering.build import build, read_activations
from babellens.steering.concepts import CONCEPTS, Concept, concept, concept_names, get_concept
from babellens.steering.contrast import ContrastPair, ContrastSet, load_contrast
from babellens.steering.evaluate import (
    DosePoint,
    EvalConfig,
    SteeringReport,
    evaluate,
    kl_cost,
    random_like,
)
from babellens.steering.metrics import METRICS, Metric, get_metric, metric
from babellens.steering.vector import SteeringVector, VectorInfo


def concept_contrast(name: str, lm: Any) -> ContrastSet:
    """The contrast data of a built-in concept (``caps``, ``french``, ``caps-de``, ``lang-ru-vs-en``)
    or of a ``.jsonl`` contrast file, in ``lm``'s prompt format."""
    if name.endswith(".jsonl"):
        return load_contrast(name)
    return get_concept(name).contrast(lm.tokenizer)


__all__ = [
    "CONCEPTS",
    "METRICS",
    "Concept",
    "ContrastPair",
    "ContrastSet",
    "DosePoint",
    "EvalConfig",
    "Metric",
    "SteeringReport",
    "SteeringVector",
    "VectorInfo",
    "apply",
    "build",
    "concept",
    "concept_contrast",
    "concept_names",
    "evaluate",
    "generate",
    "get_concept",
    "get_metric",
    "kl_cost",
    "load_contrast",
    "metric",
    "random_like",
    "read_activations",
    "steering_interventions",
]
