"""A job kind's parameter model is the one place its defaults live: the CLI reads them from it."""

from __future__ import annotations

import inspect
import json
import typing

from babellens.cli import explain_cmd, steer_cmd
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


def test_explain_options_are_the_jobs_parameters_with_their_defaults_and_help():
    from babellens.jobs.explain_job import ExplainParams

    signature = inspect.signature(explain_cmd.explain).parameters
    hints = typing.get_type_hints(explain_cmd.explain, include_extras=True)
    shared = set(signature) & set(ExplainParams.model_fields)
    assert shared >= {"layer", "dictionary", "member", "limit", "explainer", "judge", "corpus"}
    assert shared >= {"corpus_tokens", "max_calls", "max_tokens", "concurrency", "units"}
    for name in shared:
        option = hints[name].__metadata__[0]
        assert signature[name].default == ExplainParams.model_fields[name].default, name
        if name != "units":  # a comma-separated list on the command line
            assert option.help == ExplainParams.model_fields[name].description + ".", name
    assert ExplainParams().corpus_tokens == 32_768 and ExplainParams().explainer == "tokens"


def test_explain_limits_are_the_jobs_limits(capsys, model_folder):
    args = ["explain", model_folder, "--layer", "0", "--corpus-tokens", "100"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "corpus_tokens: Input should be greater than or equal to 256" in err
    code, _, err = run_cli(["explain", model_folder, "--layer", "0", "--concurrency", "0"], capsys)
    assert code == 2 and "concurrency: Input should be greater than or equal to 1" in err


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
