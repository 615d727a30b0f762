"""The sampler's activations for a dictionary's features: the same table the neuron path fills.

Features are units like neurons (see :mod:`babellens.autointerp.units`), so the pipeline samples,
explains and scores them unchanged once their activations sit in a :class:`LayerActivations`.
They are computed the way the feature scan computes them (:func:`masked_codes` inside a
reduction at the dictionary's input hook point), so an explained feature's top examples are the
feature page's: one forward pass per batch, stopping after the layer the dictionary reads, and
only the codes (never the captured activation) leave the hook.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from babellens.autointerp.activations import LayerActivations
from babellens.capture.language_model import LanguageModel
from babellens.control import RunControl
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, batches
from babellens.dictionaries.codes import masked_codes
from babellens.dictionaries.model import SparseDictionary
from babellens.errors import InvalidInputError

__all__ = ["collect_feature_activations"]


def _check_reads_this_model(lm: LanguageModel, sd: SparseDictionary) -> None:
    if sd.d_in != lm.adapter.d_model:
        raise InvalidInputError(
            f"this dictionary reads width {sd.d_in} at {sd.hook_in}, but {lm.name} has d_model "
            f"{lm.adapter.d_model}: it was made for another model"
        )


def collect_feature_activations(
    lm: LanguageModel,
    dictionary: SparseDictionary,
    windows: Sequence[Window],
    *,
    source: str,
    member: int = 0,
    tokens_per_batch: int = 2048,
    control: RunControl | None = None,
) -> LayerActivations:
    """Feature activations of ``dictionary`` over ``windows`` (0 at padding and at a BOS).

    ``source`` and ``member`` are what the units carry (:func:`~babellens.autointerp.units.
    feature_unit`), so the result plugs into :func:`~babellens.autointerp.pipeline.explain_units`
    as ``activations={member: result}``."""
    if not windows:
        raise InvalidInputError("no windows to explain units on: give a corpus with some text")
    _check_reads_this_model(lm, dictionary)
    dictionary.to(lm.device)
    hook = dictionary.hook_in
    skip_bos = windows[0].has_bos
    width = max(w.n_tokens for w in windows)
    values = torch.zeros((len(windows), width, dictionary.width), dtype=torch.float16)
    row_of = {w.index: row for row, w in enumerate(windows)}

    def codes(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        f, kept = masked_codes(dictionary, x, mask, skip_bos)
        return f * kept.to(f.device, f.dtype).unsqueeze(-1)

    done = 0
    pad = resolve_pad_id(lm.tokenizer)
    for batch in batches(windows, tokens_per_batch=tokens_per_batch, pad_id=pad):
        result = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=[hook],
            reduce={hook: codes},
        )
        f = result[hook]
        idx = torch.tensor([row_of[int(i)] for i in batch.indices])
        values[idx, : f.shape[1]] = f.to("cpu", torch.float16)
        done += len(batch.indices)
        if control is not None:
            control.progress(done, len(windows), "windows", "collecting feature activations")
    lengths = [w.n_tokens for w in windows]
    ids = [list(w.token_ids) for w in windows]
    return LayerActivations(source, member, values, lengths, ids)
