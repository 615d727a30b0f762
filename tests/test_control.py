"""The run control and the generic registry, the two contracts every analysis plugs into."""

from __future__ import annotations

import math

import pytest
import torch

from babellens.control import LocalControl, RunControl, decode_checkpoint, encode_checkpoint
from babellens.errors import InvalidInputError
from babellens.registry import Registry


def test_a_checkpoint_keeps_tensors_bit_exact_and_its_metadata():
    tensors = {"w": torch.randn(3, 4, dtype=torch.float64), "i": torch.arange(5)}
    meta = {"step": 7, "rng": [1, 2, 3], "name": "é"}
    back, back_meta = decode_checkpoint(encode_checkpoint(tensors, meta))
    assert back_meta == meta
    assert torch.equal(back["w"], tensors["w"]) and back["w"].dtype == torch.float64
    assert torch.equal(back["i"], tensors["i"])


def test_local_control_reports_progress_and_stops_when_asked():
    seen: list[tuple[int, int, str, str]] = []
    flag = {"stop": False}
    control = LocalControl(on_progress=lambda *a: seen.append(a), stop=lambda: flag["stop"])
    assert isinstance(control, RunControl)
    control.progress(1, 4, "tokens", "warming up")
    assert seen == [(1, 4, "tokens", "warming up")] and not control.should_stop()
    flag["stop"] = True
    assert control.should_stop()
    assert control.load_state() is None
    control.save_state({"x": torch.ones(2)}, {"a": 1}, done=3)
    state = control.load_state()
    assert state is not None and state.done == 3 and state.meta == {"a": 1}
    assert torch.equal(state.tensors["x"], torch.ones(2))


def test_registry_decorates_looks_up_and_names_what_it_has():
    reg: Registry[int] = Registry("widget", "see the docs")

    @reg.decorator("double", wrap=lambda f: f(21))
    def _double(x):
        return 2 * x

    reg.add("one", 1)
    assert reg.lookup("double") == 42 and reg["one"] == 1
    assert reg.names() == ["double", "one"]
    with pytest.raises(
        InvalidInputError, match=r"unknown widget 'three': one of double, one \(see the docs\)"
    ):
        reg.lookup("three")


def test_a_file_control_resumes_in_a_new_control_over_the_same_file(tmp_path):
    from babellens.control import FileControl

    path = tmp_path / "run" / "state.safetensors"
    first = FileControl(path=path)
    assert first.load_state() is None
    w = torch.randn(2, 3, dtype=torch.float64)
    first.save_state({"w": w}, {"steps": {"a": [1.5, float("nan")]}}, done=4)
    assert [p.name for p in path.parent.iterdir()] == ["state.safetensors"]  # no partial left
    again = FileControl(path=path).load_state()
    assert again is not None and again.done == 4 and torch.equal(again.tensors["w"], w)
    value, missing = again.meta["steps"]["a"]
    assert value == 1.5 and math.isnan(missing)  # NaN survives the JSON metadata
    tensors, meta = decode_checkpoint(path.read_bytes())  # the one checkpoint format
    assert meta["done"] == 4 and list(meta["meta"]["steps"]) == ["a"]
    assert torch.equal(tensors["w"], w)
