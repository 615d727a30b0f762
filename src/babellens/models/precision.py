"""Which floating-point type a model runs in: ``auto`` picks bfloat16 only where it is fast.

bfloat16 halves memory traffic and, on hardware with bfloat16 matrix units, runs the decoder
several times faster (a 2-core AMD EPYC with AVX-512 BF16 runs smollm2-135m at 3.6× its float32
speed). Where the hardware lacks those units, PyTorch emulates bfloat16 and it is *slower* than
float32, so ``auto`` detects the units rather than assuming them:

- CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and later);
- CPU: AMX-BF16 or AVX-512 BF16, read from PyTorch's CPU capability report where this PyTorch
  has one, else from the ``flags`` line of ``/proc/cpuinfo``;
- anything else: float32.

``BABELLENS_DTYPE`` (float32, bfloat16 or float16) pins what ``auto`` means, e.g. to run a test
suite in float32 on any machine. float16 is never chosen automatically: its range overflows on
the residual streams of several families.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

import torch

from babellens.errors import InvalidInputError

__all__ = [
    "AUTO",
    "DTYPE_CHOICES",
    "DtypeChoice",
    "auto_dtype",
    "cpu_has_fast_bfloat16",
    "dtype_name",
    "resolve_dtype",
]

AUTO = "auto"
DTYPE_ENV = "BABELLENS_DTYPE"
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
DtypeChoice = Literal["auto", "float32", "bfloat16", "float16"]
"""What a job parameter or request field accepts."""
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _torch_cpu_capabilities() -> dict[str, object] | None:
    """PyTorch's own CPU feature report (recent versions); None where this PyTorch lacks it."""
    get = getattr(torch.cpu, "get_capabilities", None)
    if get is None:
        return None
    try:
        return dict(get())
    except (RuntimeError, AttributeError):
        return None


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@cache
def cpu_has_fast_bfloat16() -> bool:
    """True when this CPU has bfloat16 matrix instructions (AMX-BF16 or AVX-512 BF16)."""
    capabilities = _torch_cpu_capabilities()
    if capabilities is not None and any(flag in capabilities for flag in _BF16_CPU_FLAGS):
        return any(bool(capabilities.get(flag)) for flag in _BF16_CPU_FLAGS)
    return bool(_cpuinfo_flags() & set(_BF16_CPU_FLAGS))


def _cuda_has_bfloat16() -> bool:
    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _pinned_dtype() -> torch.dtype | None:
    pinned = os.environ.get(DTYPE_ENV, "").strip()
    if not pinned or pinned == AUTO:
        return None
    if pinned not in _DTYPES:
        raise InvalidInputError(
            f"{DTYPE_ENV}={pinned!r} is not a dtype: use float32, bfloat16, float16 or auto"
        )
    return _DTYPES[pinned]


def auto_dtype(device: str | torch.device = "cpu") -> torch.dtype:
    """bfloat16 where ``device`` has fast bfloat16, float32 elsewhere (``BABELLENS_DTYPE`` pins it)."""
    pinned = _pinned_dtype()
    if pinned is not None:
        return pinned
    kind = torch.device(str(device)).type if str(device) != "auto" else _auto_device_type()
    if kind == "cuda":
        return torch.bfloat16 if _cuda_has_bfloat16() else torch.float32
    if kind == "cpu":
        return torch.bfloat16 if cpu_has_fast_bfloat16() else torch.float32
    return torch.float32


def _auto_device_type() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device = "cpu") -> torch.dtype:
    """A torch dtype from a name (``auto`` resolved for ``device``), one-line error otherwise."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == AUTO:
        return auto_dtype(device)
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise InvalidInputError(
            f"unknown dtype {dtype!r}: use auto, float32, bfloat16 or float16"
        ) from None


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``: the spelling stored with results and shown on pages."""
    return str(dtype).removeprefix("torch.")
