"""The rows of the transfer experiment: every (condition, direction language, evaluation
language, item) as one row, run in shared batches with a different edit per row.

A row's key names its cell (``ablation|en|bg``: English direction projected out, Bulgarian
prompts). Rows are listed in a fixed order, so a resumed run re-creates the same batches and
gets exactly the outputs of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from babellens.capture.language_model import LanguageModel
from babellens.safety.ab_scoring import letter_probabilities
from babellens.safety.data import ABItem, ConceptData
from babellens.safety.interventions import ablation_interventions, row_push
from babellens.safety.prompts import ab_prompt, instruction_prompt, letter_token_ids
from babellens.steering.apply import generate

__all__ = ["Row", "ab_rows", "random_directions", "refusal_rows", "run_rows"]


@dataclass(frozen=True)
class Row:
    key: str
    prompt: str
    ablate: torch.Tensor | None = None  # unit vector projected out at every layer
    push: torch.Tensor | None = None  # vector added at the chosen layer
    item: ABItem | None = None


def random_directions(directions: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Per language, a Gaussian direction with that language's direction norm (the control)."""
    gen = torch.Generator().manual_seed(seed + 7919)
    out = {}
    for lang, vector in directions.items():
        noise = torch.randn(vector.shape, generator=gen, dtype=torch.float64)
        out[lang] = (noise / noise.norm() * vector.double().norm()).float()
    return out


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-12)


def refusal_rows(
    lm: LanguageModel,
    data: dict[str, ConceptData],
    directions: dict[str, torch.Tensor],
    randoms: dict[str, torch.Tensor],
    coefficient: float,
    n: int,
) -> list[Row]:
    langs = list(data)
    rows: list[Row] = []
    for e in langs:
        items = data[e].split("test")[:n]
        harmful = [instruction_prompt(lm.tokenizer, i.harmful) for i in items]
        harmless = [instruction_prompt(lm.tokenizer, i.harmless) for i in items]
        rows += [Row(f"base|harmful|{e}", p) for p in harmful]
        rows += [Row(f"base|harmless|{e}", p) for p in harmless]
        for d in langs:
            unit = _unit(directions[d])
            rows += [Row(f"ablation|{d}|{e}", p, ablate=unit) for p in harmful]
            rows += [
                Row(f"addition|{d}|{e}", p, push=coefficient * directions[d]) for p in harmless
            ]
        rows += [Row(f"ablation|random|{e}", p, ablate=_unit(randoms[e])) for p in harmful]
        rows += [Row(f"addition|random|{e}", p, push=coefficient * randoms[e]) for p in harmless]
    return rows


def ab_rows(
    lm: LanguageModel,
    data: dict[str, ConceptData],
    directions: dict[str, torch.Tensor],
    randoms: dict[str, torch.Tensor],
    multipliers: Sequence[float],
    n: int,
) -> list[Row]:
    langs = list(data)
    rows: list[Row] = []
    for e in langs:
        items = data[e].split("test")[:n]
        prompts = [ab_prompt(lm.tokenizer, i) for i in items]
        rows += [Row(f"base|{e}", p, item=i) for p, i in zip(prompts, items, strict=True)]
        for m in multipliers:
            if m == 0:
                continue  # the unsteered rows above, shared by every direction
            for d in [*langs, "random"]:
                vector = randoms[e] if d == "random" else directions[d]
                rows += [
                    Row(f"x{m:g}|{d}|{e}", p, push=m * vector, item=i)
                    for p, i in zip(prompts, items, strict=True)
                ]
    return rows


def _stack(vectors: Sequence[torch.Tensor | None], d_model: int) -> torch.Tensor | None:
    if all(v is None for v in vectors):
        return None
    return torch.stack([torch.zeros(d_model) if v is None else v.float() for v in vectors])


def run_rows(
    lm: LanguageModel, rows: Sequence[Row], layer: int, *, max_new_tokens: int = 20
) -> list[str] | list[float]:
    """One batch: generated answers (refusal rows) or P(matching) (A/B rows)."""
    d_model = lm.adapter.d_model
    units = _stack([r.ablate for r in rows], d_model)
    pushes = _stack([r.push for r in rows], d_model)
    edits = []
    if units is not None:
        edits += ablation_interventions(lm.adapter.n_layers, units.to(lm.device))
    if pushes is not None:
        edits.append(row_push(layer, pushes.to(lm.device, lm.dtype)))
    prompts = [r.prompt for r in rows]
    if rows[0].item is None:
        return generate(lm, prompts, max_new_tokens=max_new_tokens, interventions=edits)
    letters = letter_token_ids(lm.tokenizer, prompts[0])
    probs = letter_probabilities(lm, prompts, letters, edits).double()
    out = []
    for row, (p_a, p_b) in zip(rows, probs.tolist(), strict=True):
        assert row.item is not None
        out.append((p_a if row.item.matching_letter == "A" else p_b) / (p_a + p_b))
    return out
