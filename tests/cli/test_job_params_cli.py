"""A job kind's parameter model is the one place its defaults live: the CLI reads them from it."""

from __future__ import annotations

import inspect
import json

from babellens.cli import steer_cmd
from babellens.jobs.kinds import SteeringEvalParams
from babellens.jobs.registry import job_kind_spec, job_kinds
from cli_runner import run_cli


def test_steer_evaluate_defaults_are_the_jobs_defaults():
    defaults = {
        name: p.default.default if hasattr(p.default, "default") else p.default
        for name, p in inspect.signature(steer_cmd.evaluate).parameters.items()
    }
    params = SteeringEvalParams()
    assert [float(c) for c in defaults["coefs"].split(",")] == params.coefficients
    assert defaults["prompts"] == params.prompts == 8
    assert defaults["lang"] == params.lang and defaults["metric"] == params.metric
    assert defaults["max_new_tokens"] == params.max_new_tokens


def test_jobs_kinds_lists_every_kind_with_its_schema(capsys):
    code, out, _ = run_cli(["jobs", "kinds", "--json"], capsys)
    assert code == 0
    listed = {k["name"]: k for k in json.loads(out)}
    assert sorted(listed) == job_kinds()
    for name, entry in listed.items():
        assert entry["params_schema"] == job_kind_spec(name).params.model_json_schema()
    assert listed["scan"]["params_schema"]["properties"]["k"]["default"] == 20


def test_every_builtin_kind_refuses_unknown_parameters():
    for name in ("scan", "next_token_neurons", "steering_eval", "crossling", "lookups"):
        schema = job_kind_spec(name).params.model_json_schema()
        assert schema.get("additionalProperties") is False, name
