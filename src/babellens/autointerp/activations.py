"""The activations the sampler draws from: every unit of a layer at every token of a corpus sample.

Delphi caches latents over a large corpus; here the corpus sample is small (a few hundred
windows) so the cache is one float16 tensor per layer in memory, recomputed on resume (the
forward pass is deterministic, so a resumed job samples exactly the same examples).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from babellens.autointerp.units import NEURON_SOURCE
from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, batches
from babellens.errors import InvalidInputError

__all__ = ["LayerActivations", "collect_neuron_activations"]


@dataclass
class LayerActivations:
    """``values[w, p, u]``: unit ``u`` at position ``p`` of window ``w`` (0 past a window's end)."""

    source: str
    layer: int
    values: torch.Tensor  # [windows, width, units] float16
    lengths: list[int]
    token_ids: list[list[int]]

    @property
    def n_units(self) -> int:
        return int(self.values.shape[-1])


def collect_neuron_activations(
    lm: LanguageModel,
    windows: Sequence[Window],
    layers: Sequence[int],
    *,
    tokens_per_batch: int = 2048,
    control: RunControl | None = None,
) -> dict[int, LayerActivations]:
    """MLP neuron activations (``mlp_post``) of ``layers`` over ``windows``, one forward pass."""
    if not windows:
        raise InvalidInputError("no windows to explain units on: give a corpus with some text")
    n_layers = lm.adapter.n_layers
    bad = [layer for layer in layers if not 0 <= layer < n_layers]
    if bad:
        raise InvalidInputError(
            f"layer(s) {bad} out of range: {lm.name} has layers 0..{n_layers - 1}"
        )
    width = max(w.n_tokens for w in windows)
    pad = resolve_pad_id(lm.tokenizer)
    out: dict[int, torch.Tensor] = {}
    row_of = {w.index: row for row, w in enumerate(windows)}
    done = 0
    for batch in batches(windows, tokens_per_batch=tokens_per_batch, pad_id=pad):
        result = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=[f"mlp_post.{layer}" for layer in layers],
        )
        for layer in layers:
            acts = result[f"mlp_post.{layer}"].float()
            acts = acts * batch.attention_mask.to(acts.device).unsqueeze(-1)
            if layer not in out:
                out[layer] = torch.zeros((len(windows), width, acts.shape[-1]), dtype=torch.float16)
            idx = torch.tensor([row_of[int(i)] for i in batch.indices])
            out[layer][idx, : acts.shape[1]] = acts.to("cpu", torch.float16)
        done += len(batch.indices)
        if control is not None:
            control.progress(done, len(windows), "windows", "collecting activations")
    lengths = [w.n_tokens for w in windows]
    ids = [list(w.token_ids) for w in windows]
    return {
        layer: LayerActivations(NEURON_SOURCE, layer, values, lengths, ids)
        for layer, values in out.items()
    }
