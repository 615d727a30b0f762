"""Cut a max-activating prompt down to the shortest suffix that still drives the neuron (step 3).

The paper binary-searches the suffix length, which assumes the neuron's activation grows with
the context; it does not (a token far back can inhibit the neuron), so binary search can miss
the shortest suffix. ``exact`` evaluates the suffix lengths in increasing order, a batch of
lengths per forward pass (stopped after the neuron's layer), and stops at the first batch that
contains a suffix meeting the ratio: the answer is the shortest one by construction, and short
answers cost one pass over the prompt plus one or two small ones. ``binary`` reproduces the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from babellens.capture.interventions import Intervention
from babellens.capture.language_model import LanguageModel
from babellens.capture.reductions import last_position
from babellens.data.batching import resolve_pad_id, token_batches
from babellens.errors import InvalidInputError

__all__ = ["Truncation", "TruncationMethod", "last_token_activations", "truncate"]

TruncationMethod = Literal["exact", "binary"]

_Measure = Callable[[Sequence[int]], torch.Tensor]
"""Suffix lengths -> the neuron's activation at the last token of each suffix."""

_FIRST_CHUNK = 8
"""Lengths tried in the first pass: most truncated prompts are short, so start small and double."""


@dataclass
class Truncation:
    ids: list[int]
    """The kept suffix (after the BOS token when the prompt started with one)."""
    activation: float
    """The neuron's activation at the suffix's last token."""
    original: float
    """Its activation at the last token of the whole prompt."""


def last_token_activations(
    lm: LanguageModel,
    sequences: Sequence[Sequence[int]],
    layer: int,
    neuron: int,
    batch_size: int = 32,
    *,
    interventions: Iterable[Intervention] = (),
) -> torch.Tensor:
    """``[n]`` float32: the neuron's activation (``mlp_post``) at each sequence's last token,
    under ``interventions`` if any (e.g. a head ablation, to check an attribution causally)."""
    lm.adapter.check_layer(layer)
    lm.adapter.check_neuron(neuron)
    interventions = list(interventions)
    out = torch.empty(len(sequences), dtype=torch.float32)

    def reduce(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return last_position(x[..., neuron], mask)

    pad = resolve_pad_id(lm.tokenizer)
    for batch in token_batches(sequences, pad, batch_size=batch_size, by_length=True):
        rows, ids, mask = batch.rows, batch.input_ids, batch.attention_mask
        point = f"mlp_post.{layer}"
        result = lm.run(
            {"input_ids": ids, "attention_mask": mask},
            capture=[point],
            reduce=reduce,
            interventions=interventions,
        )
        out[rows] = result[point].float().cpu()
    return out


def truncate(
    lm: LanguageModel,
    ids: list[int],
    layer: int,
    neuron: int,
    ratio: float = 0.8,
    max_tokens: int = 100,
    *,
    method: TruncationMethod = "exact",
    keep_bos: bool = True,
    batch_size: int = 32,
) -> Truncation | None:
    """The shortest suffix of ``ids`` whose last-token activation is ``>= ratio * original``.

    The last token of ``ids`` is taken to be the max-activating one (the caller cuts there).
    With ``keep_bos`` a leading BOS token stays in front of every suffix, as the model never
    sees text without it. ``None`` when no suffix of at most ``max_tokens`` tokens (BOS
    included) qualifies. The whole prompt always qualifies, since it *is* the original.
    """
    if not ids:
        raise InvalidInputError("the prompt is empty: truncation needs at least one token")
    if max_tokens < 1 or batch_size < 1:
        raise InvalidInputError("max_tokens and batch_size must be at least 1")
    if method not in ("exact", "binary"):
        raise InvalidInputError(f"unknown truncation method {method!r}: use exact or binary")
    prefix = _bos_prefix(lm, ids) if keep_bos else []
    body = list(ids[len(prefix) :])
    longest = min(len(body), max_tokens - len(prefix))

    def measure(lengths: Sequence[int]) -> torch.Tensor:
        seqs = [prefix + body[len(body) - k :] for k in lengths]
        return last_token_activations(lm, seqs, layer, neuron, batch_size)

    if method == "binary":
        return _binary(measure, prefix, body, longest, ratio)
    return _exact(measure, prefix, body, longest, ratio, batch_size)


def _bos_prefix(lm: LanguageModel, ids: Sequence[int]) -> list[int]:
    bos = getattr(lm.tokenizer, "bos_token_id", None) if lm.tokenizer is not None else None
    return [ids[0]] if bos is not None and len(ids) > 1 and ids[0] == bos else []


def _exact(
    measure: _Measure, prefix: list[int], body: list[int], longest: int, ratio: float, batch: int
) -> Truncation | None:
    """Lengths 1, 2, ... in growing batches; the first batch with a hit holds the shortest.

    The whole prompt runs alone first: batched with the short suffixes it would pad them all.
    """
    original = float(measure([len(body)])[0])
    start, size = 1, min(_FIRST_CHUNK, batch)
    while start <= longest:
        lengths = list(range(start, min(start + size, longest + 1)))
        acts = measure(lengths)
        hits = torch.nonzero(acts >= ratio * original).flatten()
        if hits.numel():
            k = lengths[int(hits[0])]
            return Truncation(prefix + body[len(body) - k :], float(acts[hits[0]]), original)
        start, size = start + len(lengths), min(2 * size, batch)
    return _whole(prefix, body, longest, original)


def _binary(
    measure: _Measure, prefix: list[int], body: list[int], longest: int, ratio: float
) -> Truncation | None:
    """The paper's search: assumes activation grows with length, one forward pass per step."""
    first = measure([len(body), longest] if longest >= 1 else [len(body)])
    original = float(first[0])
    threshold = ratio * original
    if longest < 1 or float(first[1]) < threshold:
        return _whole(prefix, body, longest, original)
    lo, hi, best = 1, longest, float(first[1])
    while lo < hi:
        mid = (lo + hi) // 2
        act = float(measure([mid])[0])
        if act >= threshold:
            hi, best = mid, act
        else:
            lo = mid + 1
    return Truncation(prefix + body[len(body) - hi :], best, original)


def _whole(prefix: list[int], body: list[int], longest: int, original: float) -> Truncation | None:
    """No shorter suffix qualified: keep the whole prompt if it is short enough (the original
    activation meets any ratio <= 1 unless it is negative; padding noise can miss it by 1e-7)."""
    if len(body) <= longest:
        return Truncation(prefix + body, original, original)
    return None
