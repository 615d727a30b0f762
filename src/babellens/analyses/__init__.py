"""Analyses: each turns a model (and data) into a pydantic result that the CLI, store and web share."""

from babellens.analyses.token_trace import (
    NeuronActivation,
    NeuronTrace,
    TopNeuronsTrace,
    trace_neuron,
    trace_top_neurons,
)
from babellens.analyses.unit_evidence import FollowEvidence, followed_fraction

__all__ = [
    "FollowEvidence",
    "NeuronActivation",
    "NeuronTrace",
    "TopNeuronsTrace",
    "followed_fraction",
    "trace_neuron",
    "trace_top_neurons",
]
