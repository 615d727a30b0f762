"""dict train|list|eval|scan|export|import and feature from the command line; one-line errors."""

from __future__ import annotations

import json

import pytest

from cli_runner import run_cli as _run
from dictionary_fakes import write_corpus

TRAIN = [
    "--width",
    "48",
    "--k",
    "4",
    "--tokens",
    "600",
    "--batch-size",
    "64",
    "--lr",
    "0.003",
    "--eval-tokens",
    "200",
]


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "c.jsonl")


def test_train_list_eval_scan_feature_export_import(model_folder, corpus, tmp_path, capsys):
    code, out, err = _run(
        [
            "dict",
            "train",
            model_folder,
            "--hook",
            "resid_post.1",
            "--kind",
            "topk",
            "--corpus",
            corpus,
            *TRAIN,
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    trained = json.loads(out)
    dict_id = trained["id"]
    assert trained["tokens_trained"] > 0 and 0 < trained["fvu"] < 1.5

    code, out, _ = _run(["dict", "list", "--json"], capsys)
    (listed,) = json.loads(out)
    assert (listed["id"], listed["kind"], listed["model"], listed["k"]) == (
        dict_id,
        "sae",
        model_folder,
        4,
    )
    assert listed["metrics"]["eval"]["fvu"] == pytest.approx(trained["fvu"])

    code, out, _ = _run(["dict", "eval", str(dict_id), "--tokens", "200", "--json"], capsys)
    evaluated = json.loads(out)
    assert evaluated["fvu"] == pytest.approx(trained["fvu"], rel=1e-5)  # same held-out tokens
    assert (
        evaluated["ce_clean"] is not None and evaluated["members"][0]["hook_in"] == "resid_post.1"
    )

    code, out, err = _run(
        ["dict", "scan", str(dict_id), "--corpus", corpus, "--k", "3", "--window", "32", "--json"],
        capsys,
    )
    assert code == 0, err
    code, out, _ = _run(["feature", str(dict_id), "0", "--json"], capsys)
    feat = json.loads(out)
    assert feat["member"] == "resid_post.1" and len(feat["promoted"]) == 10
    assert feat["scan"] is not None and len(feat["scan"]["examples"]) <= 3

    out_dir = tmp_path / "exported"
    code, out, _ = _run(
        ["dict", "export", str(dict_id), "--format", "sparsify", "--out", str(out_dir), "--json"],
        capsys,
    )
    assert code == 0 and json.loads(out)["written"][0].endswith("layers.1")
    code, out, err = _run(
        ["dict", "import", str(out_dir), "--model", model_folder, "--json"], capsys
    )
    assert code == 0, err
    imported = json.loads(out)
    assert imported["source"] == "imported:sparsify" and imported["hook_in"] == "resid_post.1"


def test_transcoder_set_gets_one_id(model_folder, corpus, capsys):
    code, out, err = _run(
        [
            "dict",
            "train",
            model_folder,
            "--kind",
            "transcoder",
            "--layers",
            "all",
            "--corpus",
            corpus,
            *TRAIN,
            "--eval-tokens",
            "0",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    trained = json.loads(out)
    code, out, _ = _run(["dict", "list", model_folder, "--json"], capsys)
    (listed,) = json.loads(out)
    assert listed["id"] == trained["id"] and listed["kind"] == "transcoder"
    assert [m[0] for m in listed["members"]] == ["mlp_in.0", "mlp_in.1", "mlp_in.2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hook", "resid_post.9"], "out of range"),
        (["--hook", "resid_middle.1"], "unknown hook point"),
        (["--hook", "resid_post.1", "--width", "0"], "width"),
        (["--hook", "resid_post.1", "--width", "8", "--k", "8"], "smaller than the width"),
        (["--hook", "resid_post.1", "--device", "banana"], "unknown device 'banana'"),
    ],
)
def test_bad_training_input_is_one_line_and_exit_2(model_folder, args, message, capsys):
    code, _, err = _run(["dict", "train", model_folder, *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_importing_a_non_dictionary_or_another_models_width_exits_2(model_folder, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not weights")
    code, _, err = _run(
        ["dict", "import", str(tmp_path / "notes.txt"), "--model", model_folder], capsys
    )
    assert code == 2 and "is not a dictionary" in err
    from babellens.dictionaries.formats import export_dictionaries
    from dictionary_fakes import random_dictionary

    export_dictionaries(
        [random_dictionary(d_in=7, hook_in="resid_post.1")], "babellens", tmp_path / "w", "x"
    )
    code, _, err = _run(["dict", "import", str(tmp_path / "w"), "--model", model_folder], capsys)
    assert code == 2 and "another model" in err


def test_a_device_this_machine_lacks_is_one_line_and_exit_2(model_folder, capsys, monkeypatch):
    """Checked before the job is created, whatever GPUs the machine running the tests has."""
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    code, _, err = _run(
        ["dict", "train", model_folder, "--hook", "resid_post.1", "--device", "cuda"], capsys
    )
    assert code == 2 and "no CUDA device on this machine" in err
    assert len(err.strip().splitlines()) == 1
