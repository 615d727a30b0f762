"""CLI options that take their defaults and help text from a job kind's parameter model.

A default lives once, in the model: the CLI reads it from there (``default_of``) and validates
what the user typed with the same model (``validated``), so the command and ``POST /api/jobs``
cannot drift apart.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from babellens.jobs.registry import validate_params

__all__ = ["default_of", "help_of", "validated"]

M = TypeVar("M", bound=BaseModel)


def default_of(model: type[BaseModel], field: str) -> Any:
    return model.model_fields[field].get_default(call_default_factory=True)


def help_of(model: type[BaseModel], field: str) -> str:
    return model.model_fields[field].description or ""


def validated(model: type[M], what: str, **values: Any) -> M:
    """The model built from the command's options; its errors exit 2 like any user error."""
    result = validate_params(model, {k: v for k, v in values.items() if v is not None}, what=what)
    assert isinstance(result, model)
    return result
