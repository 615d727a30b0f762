"""Apply a steering vector: add ``coefficient × direction`` to ``resid_post.L`` while a block runs.

``positions="all"`` steers every position of every pass; ``positions="generated"`` only the last
position of each pass, which under ``generate`` (with its KV cache) is exactly the position that
produces each new token: the last prompt token first, then every generated one. The prompt's
other positions stay as they were.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch

from babellens.capture.interventions import Intervention, add
from babellens.capture.language_model import LanguageModel
from babellens.data.batching import pad_batch, resolve_pad_id
from babellens.errors import InvalidInputError
from babellens.steering.vector import SteeringVector

__all__ = ["Positions", "apply", "generate", "steering_interventions"]

Positions = Literal["all", "generated"]


def steering_interventions(
    lm: LanguageModel,
    vector: SteeringVector,
    coefficient: float,
    layers: Sequence[int] | None = None,
    positions: Positions = "all",
) -> list[Intervention]:
    if not math.isfinite(coefficient):
        raise InvalidInputError(f"the coefficient must be a finite number, got {coefficient}")
    if positions not in ("all", "generated"):
        raise InvalidInputError(f"positions must be 'all' or 'generated', got {positions!r}")
    vector.check_model(lm.adapter.d_model, lm.adapter.n_layers)
    chosen = (
        sorted(vector.directions)
        if layers is None
        else sorted(
            {lm.adapter.check_layer(layer) for layer in layers}
        )  # a layer twice would double the push
    )
    where = [-1] if positions == "generated" else None
    return [
        add(
            f"resid_post.{layer}",
            coefficient * vector.direction(layer).to(lm.device, lm.dtype),
            positions=where,
        )
        for layer in chosen
    ]


@contextmanager
def apply(
    lm: LanguageModel,
    vector: SteeringVector,
    coefficient: float,
    layers: Sequence[int] | None = None,
    positions: Positions = "all",
) -> Iterator[LanguageModel]:
    """``with apply(lm, vec, 4.0): lm.model.generate(...)``: steered inside, plain outside."""
    interventions = steering_interventions(lm, vector, coefficient, layers, positions)
    with lm.hooks(interventions=interventions):
        yield lm


def generate(
    lm: LanguageModel,
    prompts: str | Sequence[str],
    vector: SteeringVector | None = None,
    coefficient: float = 0.0,
    *,
    layers: Sequence[int] | None = None,
    positions: Positions = "all",
    max_new_tokens: int = 40,
    temperature: float = 0.0,
    seed: int = 0,
    interventions: Sequence[Intervention] = (),
) -> list[str]:
    """(Steered) continuations of the prompts, batched with left padding: greedy at temperature 0,
    seeded sampling above. With a vector the hooks are on even at coefficient 0. ``interventions``
    are further edits held for the whole generation (e.g. a different push per row)."""
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    tokenizer = lm.tokenizer
    pad = resolve_pad_id(tokenizer)
    # left padding: generation continues every row from its own last token
    ids, mask = pad_batch([tokenizer(p)["input_ids"] for p in prompts], pad, side="left")
    enc = {"input_ids": ids.to(lm.device), "attention_mask": mask.to(lm.device)}
    kwargs: dict = {"max_new_tokens": max_new_tokens, "pad_token_id": pad}
    if temperature > 0:
        torch.manual_seed(seed)
        kwargs |= {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    else:
        kwargs |= {"do_sample": False, "temperature": None, "top_k": None, "top_p": None}
    edits = list(interventions)
    if vector is not None:
        edits += steering_interventions(lm, vector, coefficient, layers, positions)
    with torch.inference_mode():
        if not edits:
            out = lm.model.generate(**enc, **kwargs)
        else:
            with lm.hooks(interventions=edits):
                out = lm.model.generate(**enc, **kwargs)
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
