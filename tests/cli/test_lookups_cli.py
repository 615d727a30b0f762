"""``babellens lookups``: a run as a job with its report as JSON and as tables, stored reports
listed and shown again, and one-line errors."""

from __future__ import annotations

import json

import pytest

from cli_runner import run_cli
from lookups_fakes import SCRIPTS, ScriptedProvider, write_corpus

TINY = [
    "--layers",
    "2",
    "--neurons",
    "2",
    "--random-neurons",
    "1",
    "--prompts",
    "6",
    "--window",
    "16",
    "--rule",
    "top3",
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("BABELLENS_DB", f"sqlite:///{tmp_path / 'db.sqlite'}")
    return write_corpus(tmp_path / "c.jsonl")


def test_lookups_runs_stores_lists_and_shows(model_folder, env, capsys):
    SCRIPTS["cli"] = provider = ScriptedProvider("cli")
    code, out, _ = run_cli(
        [
            "lookups",
            model_folder,
            "--corpus",
            env,
            "--explainer",
            "fake:cli",
            "--no-whole-words",
            *TINY,
            "--json",
        ],
        capsys,
    )
    report = json.loads(out)
    assert code == 0 and report["version"] == 1 and report["layers"] == [2]
    assert report["config"]["prompts"] == report["config"]["test_prompts"] == 6
    assert [n["group"] for n in report["neurons"]] == ["next_token", "next_token", "random"]
    assert provider.explain_calls == sum(len(n["heads"]) for n in report["neurons"])
    job = report["job_id"]
    code, out, _ = run_cli(["lookups", model_folder, "--report", str(job), "--json"], capsys)
    assert code == 0 and json.loads(out) == report
    code, out, _ = run_cli(["lookups", model_folder, "--report", str(job)], capsys)
    assert code == 0 and "explanation scores" in out and "paper: GPT-2 small" in out
    pairs = sum(len(n["heads"]) for n in report["neurons"])
    assert pairs and f"ablated head = attribution's pick: {pairs} of {pairs}" in out
    code, out, _ = run_cli(["lookups", model_folder, "--list", "--json"], capsys)
    assert code == 0 and [r["job_id"] for r in json.loads(out)] == [job]
    code, out, _ = run_cli(["lookups", model_folder, "--list"], capsys)
    assert code == 0 and "context look-up reports" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--explainer", "gpt4"], "--explainer 'gpt4': use openai:BASE_URL:MODEL"),
        (["--scorer", "nope:x"], "--scorer 'nope:x'"),
        (["--explainer", "keywords"], "or tokens (model-free, no LLM)"),
        (["--scorer", "tokens"], "or keywords (model-free, no LLM)"),
        (["--rule", "top5"], "--rule must be mean+2std or top3"),
        (["--truncation", "fast"], "--truncation must be exact or binary"),
        (["--layers", "0"], "choose layers 1..2"),
        (["--corpus", "/no/such.jsonl"], "not found"),
        (["--report", "99"], "no context look-up report for job 99"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(model_folder, env, capsys, args, message):
    SCRIPTS["cli"] = ScriptedProvider("cli")
    base = ["lookups", model_folder, "--explainer", "fake:cli", "--corpus", env]
    code, _, err = run_cli([*base, *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
