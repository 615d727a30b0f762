"""The safety experiment as one resumable call: directions per language, the layer sweep, the
cosine matrices, base rates and the transfer matrix with controls and costs.

Stages and checkpoints: the directions are built language by language (each saved as it is
done), then the rows of every cell run in fixed batches (answers saved after each batch). A
stop between units raises :class:`~babellens.control.StopRequested` with the last checkpoint
kept; a new call with the same control resumes from it. Generation is greedy and the batches
are re-created identically, so a resumed run ends with exactly the uninterrupted result.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.crossling.similarity import cosine_matrix
from babellens.errors import InvalidInputError
from babellens.safety.cells import ab_rows, random_directions, refusal_rows, run_rows
from babellens.safety.config import SafetyParams
from babellens.safety.costs import kl_costs, neutral_texts
from babellens.safety.data import load_concept
from babellens.safety.detector import detector_agreement, labelled_languages
from babellens.safety.directions import language_directions
from babellens.safety.report import SafetyReport
from babellens.safety.summary import summarise

__all__ = ["run_safety", "sweep_layers"]


def sweep_layers(lm: LanguageModel, layers: list[int] | None) -> list[int]:
    """The given layers, or the middle half of the model (where concept directions live)."""
    n = lm.adapter.n_layers
    if layers is not None:
        return sorted({lm.adapter.check_layer(layer) for layer in layers})
    return list(range(n // 4, max(n - n // 4, n // 4 + 1)))


def _directions_stage(
    lm: LanguageModel,
    params: SafetyParams,
    data: dict,
    layers: list[int],
    control: RunControl,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    for i, lang in enumerate(params.langs):
        if lang in meta["separation"]:
            continue
        if control.should_stop():
            raise StopRequested
        found = language_directions(
            lm,
            data[lang],
            layers,
            n=params.train_items,
            seed=params.seed,
            batch_size=params.batch_size,
        )
        for layer in layers:
            tensors[f"dir.{lang}.{layer}"] = found.directions[layer]
            tensors[f"shuf.{lang}.{layer}"] = found.shuffled[layer]
        meta["separation"][lang] = {str(k): v for k, v in found.separation.items()}
        meta["pairs"] = found.pairs
        control.save_state(tensors, meta, 0)
        control.progress(i + 1, len(params.langs), "languages", f"directions: {lang}")


def _rows_stage(
    lm: LanguageModel,
    params: SafetyParams,
    rows: list,
    layer: int,
    control: RunControl,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    outputs: list = meta["outputs"]
    size = params.batch_size
    while len(outputs) < len(rows):
        if control.should_stop():
            raise StopRequested
        chunk = rows[len(outputs) : len(outputs) + size]
        outputs.extend(run_rows(lm, chunk, layer, max_new_tokens=params.max_new_tokens))
        control.save_state(tensors, meta, len(outputs))
        control.progress(len(outputs), len(rows), "rows", "transfer matrix")


def run_safety(
    lm: LanguageModel, params: SafetyParams | None = None, control: RunControl | None = None
) -> SafetyReport:
    """The whole experiment on ``lm`` (see the module docstring for resuming)."""
    params = params or SafetyParams()
    control = control or LocalControl()
    data, kind = _concept_data(params)
    layers = sweep_layers(lm, params.layers)
    tensors, meta = _resumed(control)
    with _timed(meta, "directions"):
        _directions_stage(lm, params, data, layers, control, tensors, meta)
    separation = _separation(meta, params.langs, layers)
    layer = max(layers, key=lambda x: (separation[x], -x))
    chosen = {lang: tensors[f"dir.{lang}.{layer}"] for lang in params.langs}
    randoms = random_directions(chosen, params.seed)
    rows = _cell_rows(lm, kind, params, data, chosen, randoms)
    with _timed(meta, "rows"):
        _rows_stage(lm, params, rows, layer, control, tensors, meta)
    started = time.perf_counter()
    neutral = neutral_texts(params.langs, params.neutral_texts)
    kl, kl_random = kl_costs(lm, kind, params, chosen, randoms, layer, neutral, control)
    seconds = {**meta["seconds"], "costs": time.perf_counter() - started}
    return SafetyReport(
        model=lm.name,
        concept=params.concept,
        kind=kind,
        langs=list(params.langs),
        dtype=str(lm.dtype).removeprefix("torch."),
        train_pairs=int(meta["pairs"]),
        test_items=min(len(d.split("test")[: params.test_items]) for d in data.values()),
        layers=layers,
        layer=layer,
        separation={x: round(v, 4) for x, v in separation.items()},
        cosine=_cosines(tensors, "dir", params.langs, layers),
        control=_cosines(tensors, "shuf", params.langs, layers),
        norms={lang: float(v.norm()) for lang, v in chosen.items()},
        detector=[
            detector_agreement(lang)
            for lang in params.langs
            if kind == "instructions" and lang in labelled_languages()
        ],
        kl=kl,
        kl_random=kl_random,
        seconds={k: round(v, 2) for k, v in seconds.items()},
        **summarise(kind, params, rows, meta["outputs"]),
    )


def _concept_data(params: SafetyParams) -> tuple[dict[str, Any], str]:
    """Each language's items of the concept, and their one shape (instructions or A/B)."""
    if len(set(params.langs)) != len(params.langs):
        raise InvalidInputError("give each language once")
    data = {lang: load_concept(params.concept, lang, params.data_dir) for lang in params.langs}
    kinds = {d.kind for d in data.values()}
    if len(kinds) != 1:
        raise InvalidInputError(f"concept {params.concept!r} mixes item shapes across languages")
    return data, kinds.pop()


def _resumed(control: RunControl) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The directions and metadata of the last checkpoint (empty for a new run)."""
    saved = control.load_state()
    tensors: dict[str, torch.Tensor] = dict(saved.tensors) if saved else {}
    meta: dict[str, Any] = dict(saved.meta) if saved else {}
    meta.setdefault("separation", {})
    meta.setdefault("outputs", [])
    meta.setdefault("seconds", {})
    return tensors, meta


def _separation(meta: dict[str, Any], langs: list[str], layers: list[int]) -> dict[int, float]:
    """Per layer, the held-out separation of the directions, averaged over the languages."""
    return {
        layer: sum(meta["separation"][lang][str(layer)] for lang in langs) / len(langs)
        for layer in layers
    }


def _cell_rows(
    lm: LanguageModel,
    kind: str,
    params: SafetyParams,
    data: dict[str, Any],
    chosen: dict[str, torch.Tensor],
    randoms: dict[str, torch.Tensor],
) -> list:
    """The transfer matrix's generation rows: refusals for instructions, A/B answers otherwise."""
    if kind == "instructions":
        return refusal_rows(lm, data, chosen, randoms, params.add_coefficient, params.test_items)
    return ab_rows(lm, data, chosen, randoms, params.multipliers, params.test_items)


@contextmanager
def _timed(meta: dict[str, Any], stage: str) -> Iterator[None]:
    """Add the stage's wall time to what earlier (resumed-from) runs spent on it."""
    started = time.perf_counter()
    yield
    meta["seconds"][stage] = meta["seconds"].get(stage, 0.0) + time.perf_counter() - started


def _cosines(
    tensors: dict[str, torch.Tensor], prefix: str, langs: list[str], layers: list[int]
) -> dict[int, list[list[float]]]:
    return {x: cosine_matrix([tensors[f"{prefix}.{lang}.{x}"] for lang in langs]) for x in layers}
