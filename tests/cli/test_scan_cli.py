"""scan, neuron, next-token-neurons and jobs from the command line, and their one-line errors."""

from __future__ import annotations

import json

import pytest

from cli_runner import run_cli as _run
from tiny_models import TINY_TEXTS, save_tiny_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(save_tiny_folder(tmp_path_factory.mktemp("m") / "tiny", "qwen3"))


@pytest.fixture
def env(tmp_path, monkeypatch):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "".join(
            json.dumps({"text": t, "split": "train", "lang": "xx"}) + "\n" for t in TINY_TEXTS * 3
        )
    )
    monkeypatch.setenv("BABELLENS_DB", f"sqlite:///{tmp_path / 'db.sqlite'}")
    return str(corpus)


def test_scan_then_neuron_then_jobs(folder, env, capsys):
    code, out, _ = _run(
        ["scan", folder, "--corpus", env, "--window", "16", "--k", "4", "--json"], capsys
    )
    job = json.loads(out)
    assert code == 0 and job["status"] == "done" and job["summary"]["tokens"] > 0
    code, out, _ = _run(["neuron", folder, "1", "5", "--json"], capsys)
    record = json.loads(out)
    assert code == 0 and record["job_id"] == job["id"] and len(record["examples"]) == 4
    top = record["examples"][0]
    assert top["value"] == pytest.approx(record["max"]) and top["lang"] == "xx"
    assert top["activations"][top["position"]] == pytest.approx(top["value"], rel=1e-3)
    code, out, _ = _run(["neuron", folder, "1", "5"], capsys)
    assert code == 0 and "top examples" in out
    code, out, _ = _run(["jobs", "list", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["id"] == job["id"]
    code, out, _ = _run(["jobs", "show", str(job["id"])], capsys)
    assert code == 0 and "done" in out


def test_next_token_neurons_cli(folder, env, capsys):
    code, out, _ = _run(
        ["next-token-neurons", folder, "--layer", "2", "--top", "3", "--all-tokens", "--json"],
        capsys,
    )
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3 and all(r["layer"] == 2 for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    code, out, _ = _run(["neuron", folder, "2", "0"], capsys)
    assert code == 2  # no scan yet: says to run one


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "{folder}", "--corpus", "{empty}"], "is empty"),
        (["scan", "{folder}", "--corpus", "{corpus}", "--layers", "7"], "layer 7 is out of range"),
        (["scan", "{folder}", "--corpus", "{corpus}", "--layers", "x-y"], "cannot read layers"),
        (
            ["scan", "{folder}", "--corpus", "{corpus}", "--db", "postgresql://u@127.0.0.1:1/x"],
            "cannot open database",
        ),
        (["neuron", "{folder}", "0", "0"], "no finished scan"),
        (["jobs", "show", "99"], "no job 99"),
        (["jobs", "cancel", "99"], "no job 99"),
    ],
)
def test_errors_exit_2(folder, env, tmp_path, capsys, args, message):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    argv = [a.format(folder=folder, corpus=env, empty=empty) for a in args]
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_k_below_one_is_a_usage_error(folder, env, capsys):
    code, _, err = _run(["scan", folder, "--corpus", env, "--k", "0"], capsys)
    assert code == 2 and "--k" in err
