"""``babellens trace`` on a mixture-of-experts layer: (expert, neuron) units, only where routed."""

from __future__ import annotations

import json

import pytest
import torch
import transformers as tf

from babellens import load
from babellens.analyses.expert_trace import trace_expert_neuron
from cli_runner import run_cli
from models.tiny_configs import shrunken_config
from tiny_models import byte_tokenizer


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    config = shrunken_config("mixtral")
    config.vocab_size = 259
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "mixtral"
    tf.MixtralForCausalLM(config).save_pretrained(path)
    byte_tokenizer().save_pretrained(path)
    return str(path)


def test_trace_expert_unit_json_matches_the_library(folder, capsys):
    argv = ["trace", folder, "--text", "Paris, Berlin", "--layer", "1", "--expert", "2"]
    code, out, _ = run_cli([*argv, "--neuron", "7", "--json"], capsys)
    assert code == 0
    expected = trace_expert_neuron(load(folder), "Paris, Berlin", 1, 2, 7)
    assert json.loads(out) == json.loads(expected.model_dump_json())
    assert None in json.loads(out)["activations"]  # some tokens go to other experts


def test_trace_top_expert_units_prints_a_table(folder, capsys):
    code, out, _ = run_cli(
        ["trace", folder, "--text", "Hallo", "--layer", "0", "--top", "2"], capsys
    )
    assert code == 0 and "expert_post.0" in out and "routing weight" in out


def test_a_neuron_without_its_expert_exits_2(folder, capsys):
    code, _, err = run_cli(
        ["trace", folder, "--text", "x", "--layer", "0", "--neuron", "3"], capsys
    )
    assert code == 2 and "--expert" in err


def test_scan_and_neuron_of_an_expert_unit(folder, tmp_path, capsys):
    """``scan`` folds (expert, neuron) units; ``neuron`` says which expert, over how many routed
    tokens, and shows no activation (None) at the tokens routed elsewhere."""
    db = f"sqlite:///{tmp_path / 'moe.db'}"
    code, _, err = run_cli(["scan", folder, "--db", db, "--tokens", "1500"], capsys)
    assert code == 0, err
    d_expert = load(folder).adapter.d_expert
    unit = 2 * d_expert + 7
    code, out, _ = run_cli(["neuron", folder, "1", str(unit), "--db", db, "--json"], capsys)
    assert code == 0
    record = json.loads(out)
    assert (record["expert"], record["expert_neuron"]) == (2, 7)
    assert record["routed_tokens"] == sum(record["histogram"]["counts"]) > 0
    acts = [a for ex in record["examples"] for a in ex["activations"]]
    assert None in acts and any(a is not None for a in acts)
    code, out, _ = run_cli(["neuron", folder, "1", str(unit), "--db", db], capsys)
    assert code == 0 and "expert 2, neuron 7" in out and "of routed tokens" in out


def test_a_shared_expert_unit_is_named_as_such(tmp_path, capsys):
    config = shrunken_config("qwen2_moe")
    config.vocab_size = 259
    torch.manual_seed(0)
    path = tmp_path / "qwen2_moe"
    tf.Qwen2MoeForCausalLM(config).save_pretrained(path)
    byte_tokenizer().save_pretrained(path)
    db = f"sqlite:///{tmp_path / 'q.db'}"
    code, _, err = run_cli(["scan", str(path), "--db", db, "--tokens", "800"], capsys)
    assert code == 0, err
    a = load(str(path)).adapter
    unit = a.n_experts * a.d_expert + 3
    code, out, _ = run_cli(["neuron", str(path), "0", str(unit), "--db", db, "--json"], capsys)
    record = json.loads(out)
    assert (record["shared_neuron"], record["expert"], record["routed_tokens"]) == (3, None, None)
    assert None not in [v for ex in record["examples"] for v in ex["activations"]]
    code, out, _ = run_cli(["neuron", str(path), "0", str(unit), "--db", db], capsys)
    assert code == 0 and "shared expert, neuron 3" in out
