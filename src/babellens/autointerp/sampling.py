"""Examples for the explainer and the scorers, sampled the way Delphi does by default.

A unit's candidate examples are ``ctx_len``-token pieces of the corpus windows. Pieces whose
maximum is above the unit's threshold are *activating*, sorted by that maximum. The explainer gets
the top ``ratio_top`` share of its ``n_train`` examples plus the rest drawn evenly from
``n_quantiles`` activation quantiles (Delphi's ``mix``: the very top alone makes explanations too
narrow); the scorers get held-out examples drawn the same way from the quantiles (Delphi's test
sampler) and ``n_non_activating`` random non-activating pieces. Delphi's defaults: 40 train, 50
test, 10 quantiles, 0.2 top, 50 non-activating, 32-token contexts, tokens marked above 0.3 of the
example's maximum.

The threshold: 0 for sparse units (an SAE feature is off at 0); for dense MLP neurons, which are
rarely exactly 0, the ``active_quantile`` of the unit's per-token activations.
"""

from __future__ import annotations

import random

import torch
from pydantic import BaseModel, ConfigDict, Field

from babellens.autointerp.activations import LayerActivations

__all__ = ["Example", "SamplerConfig", "UnitExamples", "sample_unit"]


class SamplerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_train: int = Field(40, ge=1, le=400, description="Activating examples shown to the explainer")
    n_test: int = Field(50, ge=2, le=400, description="Held-out activating examples per scorer")
    n_non_activating: int = Field(
        50, ge=2, le=400, description="Held-out non-activating examples per scorer"
    )
    n_quantiles: int = Field(10, ge=1, le=50, description="Activation quantiles to sample from")
    ratio_top: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of the top examples in training"
    )
    ctx_len: int = Field(32, ge=4, le=256, description="Tokens per example")
    min_examples: int = Field(
        20, ge=2, le=10_000, description="Units with fewer activating examples are skipped"
    )
    active_quantile: float = Field(
        0.99,
        ge=0.0,
        lt=1.0,
        description="A neuron is active above this quantile of its activations",
    )
    mark_fraction: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Tokens above this fraction of the example's max are marked",
    )
    seed: int = 22


class Example(BaseModel):
    """One context: its token strings, the unit's activation at each, and which tokens are marked."""

    window: int
    start: int
    tokens: list[str]
    activations: list[float]
    marked: list[int] = Field(description="Positions of the activating tokens (shown as <<tok>>)")
    max: float
    quantile: int | None = Field(None, description="Activation quantile (0 = the top), if sampled")

    def marked_text(self, marked: list[int] | None = None) -> str:
        """The text with the given positions (default: the activating ones) in ``<<`` ``>>``."""
        chosen = set(self.marked if marked is None else marked)
        parts: list[str] = []
        open_run = False
        for i, token in enumerate(self.tokens):
            if i in chosen and not open_run:
                parts.append("<<")
                open_run = True
            elif i not in chosen and open_run:
                parts.append(">>")
                open_run = False
            parts.append(token)
        if open_run:
            parts.append(">>")
        return "".join(parts)

    @property
    def text(self) -> str:
        return "".join(self.tokens)


class UnitExamples(BaseModel):
    train: list[Example]
    test: list[Example]
    non_activating: list[Example] = Field(description="Held out, for the scorers")
    background: list[Example] = Field(
        description="Not shown to the scorers: the explainer's contrast"
    )
    threshold: float
    n_activating: int = Field(description="Activating pieces in the corpus sample")


def _pieces(
    acts: LayerActivations, unit: int, ctx_len: int
) -> tuple[torch.Tensor, list[tuple[int, int, int]]]:
    """Maximum of the unit per piece, and (window, start, length) of each piece (one reduction
    over all windows: positions past a window's end are -inf, pieces under 2 tokens dropped)."""
    n_win, width = acts.values.shape[:2]
    n_per = -(-width // ctx_len)
    column = torch.full((n_win, n_per * ctx_len), float("-inf"))
    column[:, :width] = acts.values[:, :, unit].float()
    lengths = torch.tensor(acts.lengths)
    column[torch.arange(n_per * ctx_len).unsqueeze(0) >= lengths.unsqueeze(1)] = float("-inf")
    maxima = column.view(n_win, n_per, ctx_len).amax(-1).flatten()
    spans: list[tuple[int, int, int]] = []
    keep: list[int] = []
    for w, length in enumerate(acts.lengths):
        for p, start in enumerate(range(0, length, ctx_len)):
            n = min(ctx_len, length - start)
            if n >= 2:
                spans.append((w, start, n))
                keep.append(w * n_per + p)
    return maxima[torch.tensor(keep, dtype=torch.long)], spans


def _threshold(acts: LayerActivations, unit: int, quantile: float) -> float:
    mask = torch.zeros(acts.values.shape[:2], dtype=torch.bool)
    for w, length in enumerate(acts.lengths):
        mask[w, :length] = True
    values = acts.values[:, :, unit].float()[mask]
    if values.numel() and (values == 0).float().mean() > 0.5:
        return 0.0  # sparse (a dictionary feature): off means 0
    return max(0.0, float(torch.quantile(values, quantile))) if values.numel() else 0.0


def _quantile_sample(
    ranked: list[int], n_quantiles: int, n: int, rng: random.Random
) -> list[tuple[int, int]]:
    """About ``n / n_quantiles`` from each of ``n_quantiles`` equal slices of ``ranked`` (Delphi's
    ``split_quantiles``; the remainder goes to the top slices, so ``n`` in all), as (item, quantile)."""
    size = len(ranked) // n_quantiles
    chosen: list[tuple[int, int]] = []
    for q in range(n_quantiles):
        per = n // n_quantiles + (1 if q < n % n_quantiles else 0)
        part = ranked[q * size : (q + 1) * size] if size else (ranked if q == 0 else [])
        picked = part if len(part) <= per else rng.sample(part, per)
        chosen.extend((item, q) for item in sorted(picked))
    return chosen


def sample_unit(
    acts: LayerActivations,
    unit: int,
    decode: list[list[str]],
    config: SamplerConfig,
) -> UnitExamples | None:
    """Train/test/non-activating examples for ``unit``; None when it activates too rarely.

    ``decode[w]``: the token strings of window ``w``. Deterministic for a given seed and unit.
    """
    rng = random.Random(f"{config.seed}/{acts.source}/{acts.layer}/{unit}")
    maxima, spans = _pieces(acts, unit, config.ctx_len)
    threshold = _threshold(acts, unit, config.active_quantile)
    active = [
        i
        for i in torch.argsort(maxima, descending=True, stable=True).tolist()
        if maxima[i] > threshold
    ]
    if len(active) < max(config.min_examples, 4):
        return None
    inactive = [i for i in range(len(spans)) if maxima[i] <= threshold]
    n_top = int(config.n_train * config.ratio_top)
    # hold out the test set first, from the whole activating range, so training cannot use it
    rest_for_test = active[n_top:]
    n_test = min(config.n_test, len(rest_for_test) // 2)
    test = _quantile_sample(rest_for_test, config.n_quantiles, n_test, rng)
    held = {item for item, _ in test}
    pool = [i for i in active[n_top:] if i not in held]
    train = [(i, 0) for i in active[:n_top]]
    train += _quantile_sample(pool, config.n_quantiles, config.n_train - n_top, rng)
    rng.shuffle(inactive)
    non_act = inactive[: config.n_non_activating]
    background = inactive[config.n_non_activating : 2 * config.n_non_activating]

    def example(i: int, quantile: int | None) -> Example:
        w, start, n = spans[i]
        values = acts.values[w, start : start + n, unit].float().tolist()
        top = max(values)
        cut = max(threshold, config.mark_fraction * top)
        marked = [p for p, v in enumerate(values) if v > cut] if top > threshold else []
        return Example(
            window=w,
            start=start,
            tokens=decode[w][start : start + n],
            activations=[round(v, 4) for v in values],
            marked=marked,
            max=round(top, 4),
            quantile=quantile,
        )

    return UnitExamples(
        train=[example(i, q) for i, q in train],
        test=[example(i, q) for i, q in test],
        non_activating=[example(i, None) for i in non_act],
        background=[example(i, None) for i in background],
        threshold=threshold,
        n_activating=len(active),
    )
