"""Analyses: each turns a model (and data) into a pydantic result that the CLI, store and web share."""

from babellens.analyses.token_trace import (
    NeuronActivation,
    NeuronTrace,
    TopNeuronsTrace,
    trace_neuron,
    trace_top_neurons,
)

__all__ = [
    "NeuronActivation",
    "NeuronTrace",
    "TopNeuronsTrace",
    "trace_neuron",
    "trace_top_neurons",
]
