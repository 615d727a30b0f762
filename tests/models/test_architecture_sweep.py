"""Every causal-LM architecture of the installed transformers: exact, or refused in one line.

One sweep (all architectures in one process, about a minute on one thread) feeds every test here;
the generated docs/architectures.md and the README's table must match it.
"""

from __future__ import annotations

import pytest

from babellens.errors import UnsupportedArchitectureError
from models.architecture_docs import DOCS, README, architectures_md, readme_with_table
from models.architecture_sweep import Outcome, sweep

pytestmark = pytest.mark.slow

REGENERATE = "regenerate with: PYTHONPATH=src python tests/models/architecture_sweep.py --write"


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    return sweep()


def test_no_architecture_gives_a_wrong_number_or_crashes(outcomes):
    bad = [
        f"{o.model_type}: {o.status} {o.detail}" for o in outcomes if o.status in ("wrong", "crash")
    ]
    assert bad == []


def test_refusals_are_one_line_and_name_what_is_missing(outcomes):
    refused = [o for o in outcomes if o.status == "refused"]
    assert refused
    for o in refused:
        assert "\n" not in o.detail and len(o.detail) < 500, o.model_type
        assert "no exact hook points for" in o.detail or "no decoder blocks" in o.detail, o.detail


def test_every_decoder_family_we_declare_or_name_in_the_issue_is_exact(outcomes):
    by_type = {o.model_type: o.status for o in outcomes}
    must = [
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "gemma2",
        "gemma3_text",
        "phi3",
        "gpt2",
        "gpt_neox",
        "gemma3",
        "phi",
        "gpt_bigcode",
        "starcoder2",
        "bloom",
        "mpt",
        "falcon",
        "persimmon",
        "xglm",
        "biogpt",
        "glm",
        "glm4",
        "apertus",
        "arcee",
        "nanochat",
        "cohere",
        "olmo",
        "olmo2",
        "stablelm",
        "granite",
        "fuyu",
        "openai-gpt",
        "ctrl",
        "codegen",
        "trocr",
        "gpt_oss",
        "aria_text",
        "minimax_m3_vl_text",
        "git",
        "deepseek_v2",
        "deepseek_v3",
        "minicpm3",
        "glm4_moe_lite",
        "afmoe",
        "beam",
        "granite_swa",
        "llama4_text",
        "llama4",
        "gpt_neox_japanese",
        "mimo_v2_flash",
        "jetmoe",
        "laguna",
    ]
    assert {t: by_type[t] for t in must if by_type[t] != "exact"} == {}


def test_at_least_nine_in_ten_of_the_buildable_decoders_are_exact(outcomes):
    decoders = [o for o in outcomes if o.kind == "decoder" and o.status != "unbuildable"]
    exact = [o for o in decoders if o.status == "exact"]
    assert 10 * len(exact) >= 9 * len(decoders)


def test_generated_docs_match_the_sweep(outcomes):
    assert DOCS.read_text() == architectures_md(outcomes), REGENERATE
    readme = README.read_text()
    assert readme == readme_with_table(readme, outcomes), REGENERATE


def test_an_unknown_layout_is_refused_naming_what_it_lacks():
    import torch

    from babellens.models.adapters import spec_for

    with pytest.raises(UnsupportedArchitectureError, match="no decoder blocks") as err:
        spec_for(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    assert "\n" not in str(err.value)
