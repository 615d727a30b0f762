"""Analyses: each turns a model (and data) into a pydantic result that the CLI, store and web share."""

from babellens.analyses.token_trace import (
    NeuronActivation,
    NeuronTrace,
    TopNeuronsTrace,
    trace_neuron,
    trace_top_neurons,
)
from babellens.analyses.topk import RunningTopK, merge_top_k, top_k_order
from babellens.analyses.unit_evidence import FollowEvidence, followed_fraction

__all__ = [
    "FollowEvidence",
    "NeuronActivation",
    "NeuronTrace",
    "RunningTopK",
    "TopNeuronsTrace",
    "followed_fraction",
    "merge_top_k",
    "top_k_order",
    "trace_neuron",
    "trace_top_neurons",
]
