"""Rewrite one marked section of docs/benchmarks.md with a fresh table."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
RESULTS = Path(__file__).resolve().parent / "results"


def save_result(name: str, result: dict, hardware: str | None = None) -> dict:
    """Write ``results/NAME.json`` with the date and hardware, print it, return the record."""
    hardware = hardware or f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    record = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "hardware": hardware, **result}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return record


def replace_section(name: str, table: list[str], doc: Path = DOC) -> None:
    """Put ``table`` between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    head, _, rest = doc.read_text().partition(start)
    _, _, tail = rest.partition(end)
    doc.write_text(head + start + "\n" + "\n".join(table) + "\n" + end + tail)
