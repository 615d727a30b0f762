"""``babellens safety run`` as a job on a tiny model folder, then ``safety report`` from the store."""

import json

from cli_runner import run_cli


def test_run_then_report_json_and_text(model_folder, tmp_path, capsys, monkeypatch):
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("BABELLENS_DB", f"sqlite:///{tmp_path / 'db.sqlite'}")
    argv = ["safety", "run", model_folder, "--concept", "sycophancy", "--langs", "en,bg"]
    code, out, _ = run_cli([*argv, "--test-items", "2", "--layers", "1,2", "--json"], capsys)
    assert code == 0
    found = json.loads(out)
    assert found["concept"] == "sycophancy" and found["langs"] == ["en", "bg"]
    assert found["layers"] == [1, 2] and found["test_items"] == 2
    code, out, _ = run_cli(["safety", "report", "1", "--json"], capsys)
    assert code == 0 and json.loads(out) == found
    code, out, _ = run_cli(["safety", "report", "1"], capsys)
    assert code == 0
    assert "chosen from 1..2" in out and "random" in out and "KL on neutral text" in out


def test_bad_input_exits_2_with_one_line(model_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BABELLENS_DB", f"sqlite:///{tmp_path / 'db.sqlite'}")
    code, _, err = run_cli(
        ["safety", "run", model_folder, "--concept", "self-harm", "--langs", "en"], capsys
    )
    assert code == 2 and "available are hallucination, refusal, sycophancy" in err
    code, _, err = run_cli(["safety", "report", "99"], capsys)
    assert code == 2
