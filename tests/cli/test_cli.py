"""The CLI on a tiny model folder: JSON shapes, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from babellens.cli import main
from tiny_models import save_tiny_folder


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(save_tiny_folder(tmp_path_factory.mktemp("m") / "tiny", "gemma3"))


def test_info_json(folder, capsys):
    code, out, _ = _run(["info", folder, "--json"], capsys)
    data = json.loads(out)
    assert code == 0
    assert data["architecture"] == "gemma3" and data["n_layers"] == 3 and data["d_mlp"] == 64
    assert data["n_kv_heads"] == 2 and data["head_dim"] == 8 and data["vocab_size"] == 259
    assert "attn_z.2" in data["hook_points"] and len(data["hook_points"]) == 3 * 9
    assert "mlp_in.2" in data["hook_points"]


def test_info_lists_the_hook_points_this_model_has(folder, capsys):
    code, out, _ = _run(["info", folder], capsys)
    assert code == 0
    assert "mlp_post.{0..2}" in out and "attn_z.{0..2}" in out
    assert "router_probs" not in out and "expert_post" not in out  # a dense model has no router


def test_trace_neuron_json_matches_library(folder, capsys):
    import babellens
    from babellens.analyses import trace_neuron

    code, out, _ = _run(
        ["trace", folder, "--text", "abc", "--layer", "1", "--neuron", "5", "--json"], capsys
    )
    data = json.loads(out)
    assert code == 0
    assert data["tokens"] == ["<bos>", "a", "b", "c"]
    expected = trace_neuron(babellens.load(folder), "abc", 1, 5)
    assert data["activations"] == pytest.approx(expected.activations, abs=1e-6)


def test_trace_top_json(folder, capsys):
    code, out, _ = _run(
        ["trace", folder, "--text", "hi", "--layer", "0", "--top", "3", "--json"], capsys
    )
    data = json.loads(out)
    assert code == 0 and len(data["activations"]) == 3 and len(data["activations"][0]) == 3
    first = [a["activation"] for a in data["activations"][0]]
    assert first == sorted(first, reverse=True)


def test_trace_human_output(folder, capsys):
    code, out, _ = _run(["trace", folder, "--text", "hi", "--layer", "0", "--neuron", "1"], capsys)
    assert code == 0 and "neuron 1" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "no such model!"], "unknown model"),
        (["trace", "{folder}", "--text", "hi", "--layer", "3"], "layer 3 is out of range"),
        (
            ["trace", "{folder}", "--text", "hi", "--layer", "0", "--neuron", "64"],
            "neuron 64 is out of range",
        ),
        (["trace", "{folder}", "--text", "hi", "--layer", "0", "--top", "0"], "k must be between"),
        (["trace", "{folder}", "--text", "", "--layer", "0"], "text is empty"),
        (
            ["trace", "{folder}", "--text", "x", "--layer", "0", "--top", "2", "--neuron", "1"],
            "either --neuron",
        ),
        (["models", "pull", "nope"], "unknown bundled model"),
    ],
)
def test_user_errors_exit_2_with_one_line(folder, capsys, argv, message):
    code, _out, err = _run([a.format(folder=folder) for a in argv], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(error_lines) == 1 and err.strip().splitlines()[-1] == error_lines[0]


def test_encoder_only_model_exits_2(tmp_path, capsys):
    import transformers as tf

    config = tf.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2
    )
    config.architectures = ["BertForMaskedLM"]
    config.save_pretrained(tmp_path)
    code, _, err = _run(["info", str(tmp_path)], capsys)
    assert code == 2 and "not a causal" in err


def test_usage_error_exits_2(capsys):
    code, _, _ = _run(["trace"], capsys)
    assert code == 2


def test_models_list_json(capsys):
    code, out, _ = _run(["models", "list", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and {d["alias"] for d in data} == {
        "smollm2-135m",
        "gemma3-270m",
        "qwen2.5-coder-0.5b",
    }
    assert all(d["present"] is False for d in data)  # isolated BABELLENS_HOME
