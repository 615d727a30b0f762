"""Where BabelLens keeps its files.

One root, ``BABELLENS_HOME`` (default: ``$XDG_CACHE_HOME/babellens`` or ``~/.cache/babellens``),
so an operator can move every large file (model weights, converted caches) with one variable.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["babellens_home", "converted_dir", "crossling_dir", "models_dir", "vectors_dir"]


def babellens_home() -> Path:
    """The root folder for caches; created on first use."""
    env = os.environ.get("BABELLENS_HOME")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "babellens"
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    """Verified GGUF files of the bundled models."""
    path = babellens_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def converted_dir() -> Path:
    """GGUF files dequantised once into safetensors folders, so later loads take seconds."""
    path = babellens_home() / "converted"
    path.mkdir(parents=True, exist_ok=True)
    return path


def vectors_dir(model: str) -> Path:
    """Saved steering vectors of one model (its name with '/' written as '--')."""
    path = babellens_home() / "vectors" / model.replace("/", "--")
    path.mkdir(parents=True, exist_ok=True)
    return path


def crossling_dir(run: str) -> Path:
    """One cross-lingual experiment's cached steps, adapters and vectors."""
    path = babellens_home() / "crossling" / run
    path.mkdir(parents=True, exist_ok=True)
    return path
