"""Without Ray installed, the ray executor says how to get it; a wrong executor name exits 2."""

from __future__ import annotations

import sys

import pytest

from babellens.errors import BabelLensError
from babellens.jobs.ray_scan import import_ray
from cli_runner import run_cli


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BabelLensError, match=r"pip install 'babellens\[ray\]'"):
        import_ray()


def test_unknown_executor_exits_2(capsys):
    code, _, err = run_cli(["scan", "smollm2-135m", "--executor", "spark"], capsys)
    assert code == 2 and "--executor must be local or ray" in err


@pytest.mark.parametrize(
    "args",
    [
        ["dict", "scan", "1"],
        ["graph", "compare", "smollm2-135m", "--transcoders", "1"],
        ["explain", "smollm2-135m", "--layer", "0"],
    ],
)
def test_the_commands_that_fan_out_take_the_scans_executor_option(args, capsys):
    """One option definition for every command that runs on Ray: the same check, before any work."""
    code, _, err = run_cli([*args, "--executor", "spark"], capsys)
    assert code == 2 and "--executor must be local or ray, got 'spark'" in err
