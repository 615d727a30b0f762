"""The home page's "start an analysis" form, drawn from each job kind's parameter model.

The kind's JSON schema is the only description of its parameters, so the form is derived from
it: simple fields (numbers, text, choices, switches, lists of numbers or words) become inputs
with the model's default, limits and help text; nested settings keep their defaults here and are
reachable through ``POST /api/jobs``. Limits are checked again by the model on the server.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from babellens.jobs.registry import JobKind

__all__ = ["FormField", "JobForm", "job_form"]

InputType = Literal[
    "integer", "number", "string", "boolean", "choice", "integers", "numbers", "strings"
]


class FormField(BaseModel):
    name: str
    label: str
    help: str = ""
    input: InputType
    default: Any = None
    optional: bool = Field(False, description="Empty means the model's default (null)")
    required: bool = Field(False, description="The kind has no default for it")
    minimum: float | None = None
    maximum: float | None = None
    choices: list[str] = Field(default_factory=list)


class JobForm(BaseModel):
    kind: str
    description: str
    fields: list[FormField]
    advanced: list[str] = Field(
        default_factory=list, description="Nested settings left at their defaults by the form"
    )


def _without_null(prop: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    options = prop.get("anyOf")
    if not options:
        return prop, False
    real = [o for o in options if o.get("type") != "null"]
    if len(real) != 1:
        return {}, False
    return {**prop, **real[0]}, len(real) < len(options)


_LISTS = {"integer": "integers", "number": "numbers", "string": "strings"}


def _input_type(prop: dict[str, Any]) -> InputType | None:
    if "enum" in prop:
        return "choice"
    kind = prop.get("type")
    if kind in ("integer", "number", "string", "boolean"):
        return kind
    if kind == "array":
        return _LISTS.get(prop.get("items", {}).get("type", ""))  # type: ignore[return-value]
    return None


def _field(name: str, raw: dict[str, Any]) -> FormField | None:
    prop, optional = _without_null(raw)
    if "$ref" in prop:
        return None
    kind = _input_type(prop)
    if kind is None:
        return None
    items = prop.get("items", {})
    return FormField(
        name=name,
        label=raw.get("title", name).replace("_", " ").capitalize(),
        help=raw.get("description", ""),
        input=kind,
        default=raw.get("default"),
        optional=optional,
        minimum=prop.get("minimum", prop.get("exclusiveMinimum", items.get("minimum"))),
        maximum=prop.get("maximum", prop.get("exclusiveMaximum", items.get("maximum"))),
        choices=[str(c) for c in prop.get("enum", [])],
    )


def job_form(kind: JobKind) -> JobForm:
    schema = kind.params.model_json_schema()
    fields, advanced = [], []
    for name, raw in schema.get("properties", {}).items():
        field = _field(name, raw)
        if field is None:
            advanced.append(name)
            continue
        info = kind.params.model_fields.get(name)
        if info is not None and info.is_required():
            field.required, field.default = True, None
        elif info is not None:  # defaults made by a factory are not in the schema
            field.default = info.get_default(call_default_factory=True)
        fields.append(field)
    return JobForm(kind=kind.name, description=kind.description, fields=fields, advanced=advanced)
