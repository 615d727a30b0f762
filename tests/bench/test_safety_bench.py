"""The safety benchmark's readers: docs/safety.md quotes their tables and per-item counts, so the
row labels read back from a checkpoint must be the experiment's own, and every printed cell the
JSON's value."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from babellens.control import LocalControl
from babellens.safety import SafetyParams, is_refusal, run_safety
from tiny_models import tiny_lm_with_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
answers = importlib.import_module("safety_answers")
tables = importlib.import_module("safety_tables")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm_with_tokenizer("llama")


def _finished_run(lm, concept: str, folder: Path) -> tuple[dict, Path]:
    """A tiny run written as run_safety.py writes one: the JSON with its checkpoint beside it."""
    params = SafetyParams(
        concept=concept,
        langs=["en", "bg"],
        train_items=4,
        test_items=2,
        max_new_tokens=3,
        batch_size=4,
        resamples=20,
    )
    control = LocalControl()
    data = run_safety(lm, params, control).model_dump(mode="json")
    run = folder / f"{concept}.json"
    run.write_text(json.dumps(data), encoding="utf-8")
    assert control._blob is not None
    run.with_suffix(".ckpt").write_bytes(control._blob)
    return data, run


def _cell_means(labels: list[str], values: list[float]) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for label, value in zip(labels, values, strict=True):
        groups.setdefault(label, []).append(value)
    return {k: sum(v) / len(v) for k, v in groups.items()}


def test_ab_labels_give_back_every_reported_cell(lm, tmp_path):
    data, run = _finished_run(lm, "sycophancy", tmp_path)
    _, labels, outputs = answers.read_outputs(run)
    means = _cell_means(labels, [100 * p for p in outputs])
    langs = data["langs"]
    for j, e in enumerate(langs):
        assert means[f"base|{e}"] == pytest.approx(data["base"][j]["rate"]["mean"])
        for condition in ("x-2", "x2"):
            for i, d in enumerate(langs):
                expected = data["transfer"][condition][i][j]["mean"]
                assert means[f"{condition}|{d}|{e}"] == pytest.approx(expected)
            random = data["random"][condition][j]["mean"]
            assert means[f"{condition}|random|{e}"] == pytest.approx(random)


def test_refusal_labels_give_back_every_reported_rate(lm, tmp_path):
    data, run = _finished_run(lm, "refusal", tmp_path)
    _, labels, outputs = answers.read_outputs(run)
    langs = data["langs"]
    refused = [
        100.0 * is_refusal(answer, label.rsplit("|", 1)[1])
        for label, answer in zip(labels, outputs, strict=True)
    ]
    means = _cell_means(labels, refused)
    for j, e in enumerate(langs):
        assert means[f"base|harmful|{e}"] == pytest.approx(data["base"][j]["rate"]["mean"])
        assert means[f"base|harmless|{e}"] == pytest.approx(data["base"][j]["harmless"]["mean"])
        for condition in ("ablation", "addition"):
            for i, d in enumerate(langs):
                expected = data["transfer"][condition][i][j]["mean"]
                assert means[f"{condition}|{d}|{e}"] == pytest.approx(expected)


def test_a_checkpoint_of_another_run_is_refused(lm, tmp_path):
    data, run = _finished_run(lm, "sycophancy", tmp_path)
    data["test_items"] = 3
    run.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SystemExit, match="not this run's checkpoint"):
        answers.read_outputs(run)


def test_tables_carry_the_runs_dtype_and_its_numbers():
    cell = {"mean": 56.44, "low": 47.2, "high": 66.8, "n": 10}
    data = {
        "model": "m",
        "concept": "sycophancy",
        "kind": "ab",
        "langs": ["en", "bg"],
        "dtype": "bfloat16",
        "train_pairs": 14,
        "test_items": 10,
        "layers": [3, 4],
        "layer": 4,
        "separation": {"3": 0.5, "4": 1.25},
        "cosine": {"4": [[1.0, 0.625], [0.625, 1.0]]},
        "control": {"4": [[1.0, -0.125], [-0.125, 1.0]]},
        "norms": {"en": 2.0, "bg": 3.0},
        "base": [{"lang": "en", "rate": cell}, {"lang": "bg", "rate": cell}],
        "transfer": {"x2": [[cell, cell], [cell, {**cell, "mean": 60.0}]]},
        "random": {"x2": [cell, cell]},
        "kl": {"x2": [0.01, 0.02]},
        "kl_random": {"x2": [0.03, 0.04]},
    }
    text = tables.markdown(data)
    assert text.count("(m, bfloat16, 2 languages, 10 test items per cell, layer 4)") == 3
    assert "| bg | 56.4 [47, 67] | 60.0 [47, 67] |" in text
    assert "| en | 1 | 0.62 (\N{MINUS SIGN}0.12) |" in text
    assert "x2: cells move 0.0 to 3.6 points" in text
    assert "**4: 1.25**" in text
    assert "KL on neutral text, x2: 0.010–0.020 nats (random 0.030–0.040)" in text
