"""``babellens graph`` end to end on a tiny model folder with random transcoders on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from babellens.graphs.neuronpedia import read_graph_json
from babellens.graphs.transcoders import load_transcoders, save_transcoder_dir
from babellens.models.loading import load
from cli_runner import run_cli
from graphs.fake_transcoders import fake_transcoders


@pytest.fixture(scope="module")
def transcoder_dir(model_folder: str, tmp_path_factory) -> str:
    lm = load(model_folder)
    folder = tmp_path_factory.mktemp("tcs") / "set"
    return str(save_transcoder_dir(fake_transcoders(lm, width=16), folder))


def test_a_saved_set_loads_back_to_the_same_transcoders(
    model_folder: str, transcoder_dir: str
) -> None:
    lm = load(model_folder)
    original = fake_transcoders(lm, width=16)
    loaded = load_transcoders(transcoder_dir)
    x = torch.randn(3, lm.adapter.d_model)
    for layer, tc in original.items():
        assert torch.equal(loaded[layer].encode(x), tc.encode(x))
        assert torch.equal(loaded[layer].decode(tc.encode(x)), tc.decode(tc.encode(x)))


def test_graph_make_writes_neuronpedia_json_and_open_imports_it(
    model_folder: str, transcoder_dir: str, tmp_path, capsys
) -> None:
    out = tmp_path / "g.json"
    code, stdout, _ = run_cli(
        [
            "graph",
            model_folder,
            "--prompt",
            "Paris is",
            "--transcoders",
            transcoder_dir,
            "--out",
            str(out),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    printed = json.loads(stdout)
    assert printed["metadata"]["prompt"] == "Paris is"
    assert printed["metadata"]["prompt_tokens"][0] == "<bos>"
    assert 0 <= printed["metadata"]["scores"]["replacement"] <= 1
    assert read_graph_json(out).model_dump(mode="json") == printed
    code, stdout, _ = run_cli(["graph", "open", str(out), "--json"], capsys)
    assert code == 0
    opened = json.loads(stdout)
    assert opened["graph"] == printed and opened["job_id"] >= 1
    from babellens.graphs.report import GraphReport
    from babellens.store import open_database
    from babellens.store.reports import ReportStore

    stored = ReportStore(open_database()).get(opened["job_id"], GraphReport)
    assert stored.model_dump(mode="json") == printed


def test_bad_input_is_one_line_and_exit_2(
    model_folder: str, transcoder_dir: str, tmp_path, capsys
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"metadata": {}, "nodes": [], "links": []}')
    code, _, err = run_cli(["graph", "open", str(broken)], capsys)
    assert code == 2 and "lacks qParams" in err and len(err.strip().splitlines()) == 1
    partial = tmp_path / "partial"
    partial.mkdir()
    layer_0 = Path(transcoder_dir) / "layer_0.safetensors"
    (partial / "layer_0.safetensors").write_bytes(layer_0.read_bytes())
    code, _, err = run_cli(
        ["graph", model_folder, "--prompt", "x", "--transcoders", str(partial)], capsys
    )
    assert code == 2 and "no transcoder for layer(s) 1, 2" in err


def test_graph_compare_reports_every_layer_beside_its_control(
    model_folder: str, transcoder_dir: str, tmp_path, capsys
) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text(
        json.dumps(
            {
                "parallel": {
                    "en": "The capital of France is",
                    "fr": "La capitale de la France est",
                },
                "control": ["My cat sleeps", "Rain falls on"],
            }
        )
    )
    code, stdout, _ = run_cli(
        [
            "graph",
            "compare",
            model_folder,
            "--transcoders",
            transcoder_dir,
            "--prompts",
            str(prompts),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    report = json.loads(stdout)
    assert [row["layer"] for row in report["layers"]] == [0, 1, 2]
    for row in report["layers"]:
        assert 0 <= row["shared_fraction"] <= 1 and 0 <= row["control_fraction"] <= 1
    assert set(report["replacement_scores"]) == {"en", "fr"}
