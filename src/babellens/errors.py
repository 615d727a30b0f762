"""Errors a user can meet and fix.

Every error that reaches a person (CLI, API) is a :class:`BabelLensError` whose message is one line
saying what went wrong and what to do next. The CLI prints it and exits with status 2; the web
layer maps it to a 4xx answer. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "BabelLensError",
    "CorruptModelFileError",
    "InvalidInputError",
    "InvalidParametersError",
    "ModelNotAvailableError",
    "NotACausalLMError",
    "NotFoundError",
    "UnsupportedArchitectureError",
]


class BabelLensError(Exception):
    """A problem the user can fix; the message says how."""


class ModelNotAvailableError(BabelLensError):
    """The model cannot be found locally and cannot be downloaded."""


class CorruptModelFileError(BabelLensError):
    """A model file exists but is truncated, corrupt or fails its checksum."""


class NotACausalLMError(BabelLensError):
    """The model loads but is not a decoder-only causal language model."""


class UnsupportedArchitectureError(BabelLensError):
    """No architecture spec matches the model and the llama-like fallback does not fit."""


class InvalidInputError(BabelLensError, ValueError):
    """An argument is out of range (layer, neuron, head, hook point name...)."""


class NotFoundError(InvalidInputError):
    """A model, layer, unit, job or report the store does not hold (the web answers 404)."""


class InvalidParametersError(InvalidInputError):
    """Parameters that fail their model's validation (unknown field, out of range; the web: 422)."""
