"""Run the CLI in process and collect (exit code, stdout, stderr)."""

from __future__ import annotations

import pytest

from babellens.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err
