"""``babellens explain MODEL --dictionary ID [--member M] [--limit N]``: features explained and
stored under the dictionary's source, one member or a whole set in one job; a bad id, model or
member exits 2 in one line, no job."""

from __future__ import annotations

import json

import pytest
from tests.cli_runner import run_cli

from babellens.store import JobStore, open_database
from babellens.store.dictionaries import DictionaryStore
from babellens.store.explanations import ExplanationStore
from dictionary_fakes import random_dictionary, write_corpus


@pytest.fixture
def setup(model_folder, tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = open_database(url)
    store = DictionaryStore(db)
    members = [
        random_dictionary(d_in=32, width=10, k=3, hook_in=f"resid_post.{i}", seed=i)
        for i in range(2)
    ]
    pair = store.save(members, model=model_folder, source="trained").id
    other = store.save([random_dictionary(d_in=32)], model="elsewhere", source="trained").id
    corpus = write_corpus(tmp_path / "corpus.jsonl", n_docs=60)
    return db, url, pair, other, corpus


def test_explain_a_set_member_stores_its_features(setup, model_folder, capsys, tmp_path) -> None:
    db, url, pair, _, corpus = setup
    args = ["explain", model_folder, "--dictionary", str(pair), "--member", "resid_post.1"]
    options = ["--limit", "6", "--corpus", corpus, "--corpus-tokens", "4096", "--db", url]
    code, out, err = run_cli([*args, *options, "--json"], capsys)
    assert code == 0, err
    job = json.loads(out)
    assert job["status"] == "done" and job["summary"]["units"] == 6
    assert job["summary"]["source"] == f"dict:{pair}"
    rows = ExplanationStore(db).for_layer(model_folder, 1, source=f"dict:{pair}")
    assert len(rows) == job["summary"]["explained"] > 0 and set(rows) <= set(range(6))
    assert ExplanationStore(db).for_layer(model_folder, 0, source=f"dict:{pair}") == {}
    out_file = tmp_path / "features.json"
    export = ["explanations", "export", model_folder, str(out_file), "--layer", "1"]
    code, _, err = run_cli([*export, "--source", f"dict:{pair}", "--db", url], capsys)
    assert code == 0, err
    records = json.loads(out_file.read_text())
    assert sorted(int(r["index"]) for r in records) == sorted(rows)
    assert {r["layer"] for r in records} == {f"1-dict:{pair}"}
    imported = ["explanations", "import", "copy", str(out_file), "--db", url, "--json"]
    code, _, err = run_cli(imported, capsys)
    assert code == 0, err
    back = ExplanationStore(db).for_layer("copy", 1, source=f"dict:{pair}")
    assert {i: e.text for i, e in back.items()} == {i: e.text for i, e in rows.items()}


def test_explain_a_whole_set_without_member(setup, model_folder, capsys) -> None:
    db, url, pair, _, corpus = setup
    args = ["explain", model_folder, "--dictionary", str(pair), "--limit", "5"]
    options = ["--corpus", corpus, "--corpus-tokens", "4096", "--db", url, "--json"]
    code, out, err = run_cli([*args, *options], capsys)
    assert code == 0, err
    job = json.loads(out)
    assert job["summary"]["members"] == [0, 1] and job["summary"]["units"] == 2 * 5
    store = ExplanationStore(db)
    per_member = [store.for_layer(model_folder, m, source=f"dict:{pair}") for m in (0, 1)]
    assert sum(len(rows) for rows in per_member) == job["summary"]["explained"] > 0
    assert all(set(rows) <= set(range(5)) for rows in per_member)
    assert all(r.job_id == job["id"] for rows in per_member for r in rows.values())


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--dictionary", "999"], "no dictionary 999"),
        (["--dictionary", "OTHER"], "was made for elsewhere"),
        (["--dictionary", "PAIR", "--member", "5"], "member 5 out of range"),
        (["--dictionary", "PAIR", "--member", "mlp_in.0"], "has no member 'mlp_in.0'"),
        (["--dictionary", "PAIR", "--member", "0", "--layer", "1"], "not both"),
    ],
)
def test_bad_dictionary_input_exits_2_in_one_line_before_any_job(
    setup, model_folder, capsys, extra, message
) -> None:
    db, url, pair, other, _ = setup
    extra = [{"OTHER": str(other), "PAIR": str(pair)}.get(a, a) for a in extra]
    code, _, err = run_cli(["explain", model_folder, *extra, "--db", url], capsys)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
    assert JobStore(db).list() == []
