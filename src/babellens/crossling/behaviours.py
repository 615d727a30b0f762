"""Behaviours a cross-lingual experiment can train and measure, registered by name.

A behaviour is a data transform (a normal answer -> the answer showing the behaviour) and a
metric (a generated answer -> how much it shows it). Adding one, e.g. refusal, is one decorated
function here; the training, evaluation and report code never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from babellens.registry import Registry
from babellens.steering.metrics import uppercase_fraction

__all__ = ["BEHAVIOURS", "Behaviour", "behaviour", "get_behaviour"]


@dataclass(frozen=True)
class Behaviour:
    name: str
    description: str
    transform: Callable[[str], str]
    metric: Callable[[str], float]
    concept: str  # the steering concept family for it (``caps`` -> ``caps-LANG``)


BEHAVIOURS: Registry[Behaviour] = Registry("behaviour")


def behaviour(
    name: str, description: str, metric: Callable[[str], float], concept: str
) -> Callable[[Callable[[str], str]], Callable[[str], str]]:
    def register(transform: Callable[[str], str]) -> Callable[[str], str]:
        BEHAVIOURS[name] = Behaviour(name, description, transform, metric, concept)
        return transform

    return register


@behaviour(
    "caps",
    "Answer in ALL CAPS (measured as upper-case letters among cased letters)",
    uppercase_fraction,
    "caps",
)
def _caps(answer: str) -> str:
    return answer.upper()


def get_behaviour(name: str) -> Behaviour:
    return BEHAVIOURS.lookup(name)
