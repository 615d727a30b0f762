"""``babellens graph`` end to end on a tiny model folder with random transcoders on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from babellens.capture.language_model import load
from babellens.graphs.neuronpedia import read_graph_json
from babellens.graphs.transcoders import load_transcoders, save_transcoder_dir
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


def test_a_stored_transcoder_set_traces_by_its_id_like_its_folder(
    model_folder: str, transcoder_dir: str, tmp_path, capsys
) -> None:
    """`--transcoders 7` (a set in the dictionaries store) gives the graph the folder gives."""
    from babellens.dictionaries.model import SparseDictionary
    from babellens.store import open_database
    from babellens.store.dictionaries import DictionaryStore
    from babellens.store.transcoder_sets import load_transcoder_set, stored_set_id

    url = f"sqlite:///{tmp_path / 'sets.db'}"
    db = open_database(url)
    members = {}
    for layer, simple in load_transcoders(transcoder_dir).items():
        tc = SparseDictionary(
            simple.d_in,
            simple.width,
            kind="transcoder",
            hook_in=f"mlp_in.{layer}",
            hook_out=f"mlp_out.{layer}",
            activation="jumprelu",
        )
        tc.load_state_dict({k: getattr(simple, k) for k in tc.state_dict()})
        members[layer] = tc
    info = DictionaryStore(db).save(list(members.values()), model=model_folder, source="test")
    assert stored_set_id(str(info.id)) == stored_set_id(f"dict:{info.id}") == info.id
    assert stored_set_id(transcoder_dir) is None
    loaded = load_transcoder_set(db, f"dict:{info.id}")
    x = torch.randn(3, load(model_folder).adapter.d_model)
    assert sorted(loaded) == sorted(members)
    for layer, tc in members.items():
        assert torch.equal(loaded[layer].encode(x), tc.encode(x))

    def graph(spec: str) -> dict:
        argv = ["graph", model_folder, "--prompt", "Paris is", "--transcoders", spec]
        code, stdout, err = run_cli([*argv, "--db", url, "--json"], capsys)
        assert code == 0, err
        return json.loads(stdout)

    by_id, by_folder = graph(str(info.id)), graph(transcoder_dir)
    assert by_id["nodes"] == by_folder["nodes"] and by_id["links"] == by_folder["links"]
    assert by_id["nodes"] and by_id["links"]

    sae = DictionaryStore(db).save(
        [SparseDictionary(d_in=x.shape[1], width=8, hook_in="resid_post.1", k=2)],
        model=model_folder,
        source="test",
    )
    argv = ["graph", model_folder, "--prompt", "x", "--transcoders", str(sae.id), "--db", url]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "not a transcoder set" in err and len(err.strip().splitlines()) == 1


def test_graphs_trace_in_float32_whatever_auto_means_here(
    model_folder: str, transcoder_dir: str, monkeypatch, capsys
) -> None:
    """On a machine where ``auto`` is bfloat16 the float32 transcoders still trace (no crash)."""
    monkeypatch.setenv("BABELLENS_DTYPE", "bfloat16")
    argv = ["graph", model_folder, "--prompt", "Paris is", "--transcoders", transcoder_dir]
    code, stdout, err = run_cli([*argv, "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["metadata"]["prompt"] == "Paris is"
