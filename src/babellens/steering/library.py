"""Saved vectors per model, by name, and the rule that turns a name into a vector: a saved vector,
a ``.safetensors`` file, or a built-in concept built on the spot (and then saved)."""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from babellens.capture.language_model import LanguageModel
from babellens.errors import BabelLensError, InvalidInputError
from babellens.paths import vectors_dir
from babellens.steering.build import build
from babellens.steering.concepts import get_concept
from babellens.steering.vector import SteeringVector, VectorInfo

__all__ = [
    "default_layers",
    "eval_inputs",
    "list_vectors",
    "resolve_vector",
    "save_vector",
    "steer_layers",
]

_NAME = re.compile(r"^[\w.-]{1,100}$")


def default_layers(n_layers: int) -> list[int]:
    """Where concept vectors are built by default: from a fifth to half of the depth, where
    behaviour directions such as CAPS or language are usually steerable."""
    return list(range(n_layers // 5, n_layers // 2 + 1))


def steer_layers(vector: SteeringVector, n_layers: int) -> list[int]:
    """The one layer to steer when none is asked for: the vector's closest to 30% of the depth.
    Adding a full-size vector at many layers at once multiplies its effect and breaks the text."""
    target = round(0.3 * (n_layers - 1))
    return [min(vector.directions, key=lambda layer: (abs(layer - target), layer))]


def _path(model: str, name: str) -> Path:
    if not _NAME.match(name):
        raise InvalidInputError(f"vector names use letters, digits, '.', '_' and '-': {name!r}")
    return vectors_dir(model) / f"{name}.safetensors"


def save_vector(vector: SteeringVector, name: str | None = None) -> Path:
    """Written to a temporary file and renamed, so a reader never sees half a vector."""
    path = _path(vector.info.model, name or vector.info.name)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    vector.save(partial)
    os.replace(partial, path)
    return path


def list_vectors(model: str) -> list[VectorInfo]:
    """Saved vectors of a model; an unreadable file is skipped with a warning, not fatal."""
    infos = []
    for path in sorted(vectors_dir(model).glob("*.safetensors")):
        try:
            infos.append(SteeringVector.load(path).info)
        except BabelLensError as exc:
            warnings.warn(f"skipping {path}: {exc}", stacklevel=2)
    return infos


def resolve_vector(
    lm: LanguageModel,
    spec: str,
    layers: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    allow_files: bool = True,
) -> SteeringVector:
    """A saved vector of this model, a vector file, or a concept built now at the default layers
    (and saved under its name, so the next request finds the same vector). ``layers`` are where
    it will be applied: they must be among the vector's. The web app passes ``allow_files=False``."""
    if spec.endswith(".safetensors") or "/" in spec:
        if not allow_files:
            raise InvalidInputError(f"give a saved vector or concept name, not a path: {spec!r}")
        vector = SteeringVector.load(spec)
    else:
        path = _path(lm.name, spec)
        if path.is_file():
            vector = SteeringVector.load(path)
        else:
            concept = get_concept(spec)
            chosen = default_layers(lm.adapter.n_layers)
            vector = build(
                lm,
                concept.contrast(lm.tokenizer),
                chosen,
                read=concept.read,  # type: ignore[arg-type]
                name=spec,
                progress=progress,
            )
            save_vector(vector)
    vector.check_model(lm.adapter.d_model, lm.adapter.n_layers)
    if layers:
        missing = sorted(set(layers) - set(vector.directions))
        if missing:
            raise InvalidInputError(
                f"vector {vector.info.name!r} has layers {sorted(vector.directions)}, not {missing}: rebuild it with `babellens steer build`"
            )
    return vector


def eval_inputs(
    lm: LanguageModel, lang: str = "en", n_prompts: int = 8
) -> tuple[list[str], list[str]]:
    """Held-out instructions in the model's chat format, and neutral text for the KL cost."""
    from babellens.data.corpus import load_corpus
    from babellens.data.prompts import chat_prompt, instructions

    prompts = [chat_prompt(lm.tokenizer, r["text"]) for r in instructions(lang, "eval")[:n_prompts]]
    neutral = [d.text[:300] for d in load_corpus("babel-mini", split="test").documents[:4]]
    return prompts, neutral
