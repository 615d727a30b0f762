"""Job kinds registered by name, so the CLI, the web app and remote runners create them alike.

A kind declares its parameters as one pydantic model: the single place their defaults, limits
and help text live. The CLI, ``POST /api/jobs`` and the web form validate with it (unknown
fields are refused, never dropped), and the job reads ``ctx.params``, already validated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from babellens.errors import InvalidParametersError
from babellens.params import JobParams
from babellens.registry import Registry

if TYPE_CHECKING:
    from babellens.jobs.context import JobContext

__all__ = [
    "JOB_KINDS",
    "JobFunction",
    "JobKind",
    "JobKindInfo",
    "JobParams",
    "get_job_kind",
    "job_kind",
    "job_kind_spec",
    "job_kinds",
    "validate_params",
]

JobFunction = Callable[["JobContext"], dict[str, Any]]
"""Runs a job to completion (or until cancelled) and returns its short summary."""


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    params: type[BaseModel]
    description: str
    web: bool = True
    """Whether ``POST /api/jobs`` and the home form may start it (False: CLI and its own route)."""

    def validate(self, params: dict[str, Any] | None) -> BaseModel:
        return validate_params(self.params, params or {}, what=f"{self.name} job")

    def info(self) -> JobKindInfo:
        return JobKindInfo(
            name=self.name,
            description=self.description,
            web=self.web,
            params_schema=self.params.model_json_schema(),
        )


class JobKindInfo(BaseModel):
    """What the CLI's ``jobs kinds`` and the web's ``GET /api/job-kinds`` say of a kind."""

    name: str
    description: str
    web: bool = Field(description="Startable with POST /api/jobs and the home page's form")
    params_schema: dict[str, Any] = Field(description="JSON schema of the kind's parameters")


class _AnyParams(JobParams):
    """For kinds registered without a model (tests, plug-ins): any field, as given."""

    model_config = ConfigDict(extra="allow")


JOB_KINDS: Registry[JobKind] = Registry("job kind", "`babellens jobs kinds` lists them")


def job_kind(
    name: str, params: type[BaseModel] | None = None, description: str = "", web: bool = True
) -> Callable[[JobFunction], JobFunction]:
    """Register ``fn`` as the job kind ``name`` with its parameter model."""

    def register(fn: JobFunction) -> JobFunction:
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        JOB_KINDS[name] = JobKind(name, fn, params or _AnyParams, doc, web)
        return fn

    return register


def validate_params(model: type[BaseModel], params: dict[str, Any], *, what: str) -> BaseModel:
    """``model(**params)``, with pydantic's errors turned into one line a user can act on."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:3]:
            where = ".".join(str(p) for p in err.get("loc", ())) or "params"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        raise InvalidParametersError(
            f"invalid parameters for the {what}: " + "; ".join(parts)
        ) from None


def _load_builtin_kinds() -> None:
    from babellens.jobs import kinds  # noqa: F401 - registers the built-in kinds


def job_kind_spec(name: str) -> JobKind:
    _load_builtin_kinds()
    return JOB_KINDS.lookup(name)


def get_job_kind(name: str) -> JobFunction:
    return job_kind_spec(name).run


def job_kinds() -> list[str]:
    """Every registered kind's name, the built-in ones included."""
    _load_builtin_kinds()
    return JOB_KINDS.names()
