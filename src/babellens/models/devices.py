"""Which device a computation may run on, checked where it will run.

A device string is checked twice: its form where the request is made (a misspelt ``--device``
is a 4xx or exit 2, never a failed job), and its availability on the machine that runs the job
(a Ray worker may have the GPU the web server lacks, so the server cannot decide that).
"""

from __future__ import annotations

import torch

from babellens.errors import InvalidInputError

__all__ = ["DEVICE_TYPES", "available_device", "parse_device"]

DEVICE_TYPES = ("cpu", "cuda", "mps")


def parse_device(device: str) -> torch.device:
    """``device`` as a torch device of a known type, or a one-line error naming the choices."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in DEVICE_TYPES:
        raise InvalidInputError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps")
    return parsed


def available_device(device: str) -> torch.device:
    """``device`` if this machine has it; a one-line error that says what to use instead."""
    parsed = parse_device(device)
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InvalidInputError(f"no CUDA device on this machine for {device!r}: use cpu")
        if parsed.index is not None and parsed.index >= count:
            raise InvalidInputError(
                f"{device!r} does not exist: this machine has CUDA devices 0..{count - 1}"
            )
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError(f"no Apple MPS device on this machine for {device!r}: use cpu")
    return parsed
