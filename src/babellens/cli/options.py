"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated

import typer

from babellens.errors import InvalidInputError
from babellens.jobs.ray_scan import RayOptions

__all__ = [
    "DbOpt",
    "DtypeOpt",
    "ExecutorOpt",
    "JsonOpt",
    "RayAddressOpt",
    "WorkersOpt",
    "parse_layers",
    "ray_options",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: BABELLENS_DB or a SQLite file).")
]

DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype",
        help="auto (bfloat16 where the CPU or GPU has fast bfloat16, float32 elsewhere; "
        "BABELLENS_DTYPE pins it), float32, bfloat16 or float16.",
    ),
]

ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="local, or ray to shard over a Ray cluster (BABELLENS_EXECUTOR).",
        envvar="BABELLENS_EXECUTOR",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="auto, ray://host:10001, or none for a local Ray instance (BABELLENS_RAY_ADDRESS).",
        envvar="BABELLENS_RAY_ADDRESS",
    ),
]
WorkersOpt = Annotated[
    int, typer.Option("--workers", min=1, max=1024, help="Ray actors (each loads the model once).")
]


def ray_options(executor: str, address: str | None, workers: int) -> RayOptions | None:
    """None for the local executor; Ray options otherwise (one-line error for anything else)."""
    if executor == "local":
        return None
    if executor != "ray":
        raise InvalidInputError(f"--executor must be local or ray, got {executor!r}")
    return RayOptions(address=address, workers=workers)


def parse_layers(text: str | None) -> list[int] | None:
    """``"0,3,5-7"`` -> ``[0, 3, 5, 6, 7]``; ``None`` or ``"all"`` -> ``None``."""
    if text is None or text.strip() in ("", "all"):
        return None
    layers: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            layers.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise InvalidInputError(f"cannot read layers {text!r}: use e.g. 0,3,5-7 or all") from None
    return sorted(layers)
