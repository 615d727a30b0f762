"""``babellens steer``: build, generate, evaluate and list on a tiny model folder; bad input exits 2."""

from __future__ import annotations

import json

import pytest

from cli_runner import run_cli


@pytest.fixture
def contrast(tmp_path):
    path = tmp_path / "shout.jsonl"
    rows = [
        {
            "prompt": f"Q: item {i}? A:",
            "positive": f"THING NUMBER {i}",
            "negative": f"thing number {i}",
        }
        for i in range(6)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_build_generate_evaluate_list(model_folder, contrast, capsys, tmp_path):
    code, out, _ = run_cli(
        [
            "steer",
            "build",
            model_folder,
            contrast,
            "--layers",
            "1-2",
            "--read",
            "completion_mean",
            "--export-gguf",
            str(tmp_path / "v.gguf"),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    info = json.loads(out)
    assert (
        info["layers"] == [1, 2] and info["n_examples"] == 6 and info["read"] == "completion_mean"
    )
    assert (tmp_path / "v.gguf").stat().st_size > 0
    code, out, _ = run_cli(["steer", "list", model_folder, "--json"], capsys)
    assert code == 0 and [v["name"] for v in json.loads(out)] == ["shout"]
    code, out, _ = run_cli(
        [
            "steer",
            "generate",
            model_folder,
            "--vector",
            "shout",
            "--prompt",
            "hi",
            "--coef",
            "0",
            "--max-new-tokens",
            "5",
            "--no-chat",
            "--json",
        ],
        capsys,
    )
    result = json.loads(out)
    assert code == 0 and result["plain"] == result["steered"]  # coefficient 0 changes nothing
    code, out, _ = run_cli(
        [
            "steer",
            "evaluate",
            model_folder,
            "--vector",
            "shout",
            "--coefs",
            "-2,2",
            "--prompts",
            "2",
            "--max-new-tokens",
            "4",
            "--json",
        ],
        capsys,
    )
    report = json.loads(out)
    assert code == 0 and [p["coefficient"] for p in report["dose_response"]] == [-2.0, 0.0, 2.0]
    assert sorted(report["layer_sweep"]) == ["1", "2"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["steer", "generate", "{folder}", "--vector", "nothing-here", "--prompt", "x"],
            "unknown concept",
        ),
        (
            ["steer", "generate", "{folder}", "--vector", "shout", "--prompt", "x", "--layer", "9"],
            "layers",
        ),
        (
            [
                "steer",
                "generate",
                "{folder}",
                "--vector",
                "shout",
                "--prompt",
                "x",
                "--coef",
                "nan",
            ],
            "finite",
        ),
        (["steer", "evaluate", "{folder}", "--vector", "shout", "--coefs", "a,b"], "coefficients"),
        (["steer", "build", "{folder}", "missing.jsonl"], "no contrast file"),
        (["steer", "build", "{folder}", "caps", "--method", "magic"], "mean_diff or pca"),
    ],
)
def test_bad_input_exits_2(model_folder, contrast, capsys, args, words):
    run_cli(["steer", "build", model_folder, contrast, "--layers", "1", "--json"], capsys)
    code, _, err = run_cli([a.format(folder=model_folder) for a in args], capsys)
    assert code == 2 and words in err, err
