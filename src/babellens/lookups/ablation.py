"""The causal check of a look-up head (step 7): does removing it lower the neuron's token?

A head is zero-ablated by setting its ``attn_z`` (the per-head attention output before the output
projection) to zero at every position, with :func:`babellens.capture.interventions.zero_ablate`.
``z_h = Σ_j attention_h(i, j) · v_j`` is linear in the value vectors the head reads, so this is
exactly zeroing head ``h``'s values. With grouped KV several query heads share one value
projection; zeroing that shared ``v`` would also silence the other heads of the group, while
zeroing ``z_h`` removes only the query head under test.

Only the last position's logits are computed (final norm and unembedding on one vector per row),
so a 262k-token vocabulary costs ``batch × vocab``, not ``batch × positions × vocab``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from babellens.capture.interventions import Intervention, zero_ablate
from babellens.capture.language_model import LanguageModel
from babellens.capture.reductions import last_position
from babellens.data.batching import resolve_pad_id, token_batches
from babellens.errors import InvalidInputError

__all__ = ["head_ablation_drop", "last_token_logits", "token_probabilities"]


def last_token_logits(
    lm: LanguageModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    interventions: Iterable[Intervention] = (),
) -> torch.Tensor:
    """``[batch, vocab]`` float32: the model's logits at each row's last real position."""
    point = f"resid_post.{lm.adapter.n_layers - 1}"
    run = lm.run(
        {"input_ids": input_ids, "attention_mask": attention_mask},
        capture=[point],
        reduce=last_position,
        interventions=interventions,
    )
    with torch.inference_mode():
        logits = lm.unembed(run[point].unsqueeze(1)).squeeze(1).float()
    return logits.cpu()


def token_probabilities(
    lm: LanguageModel,
    sequences: Sequence[Sequence[int]],
    token_id: int,
    batch_size: int = 32,
    *,
    interventions: Iterable[Intervention] = (),
) -> torch.Tensor:
    """``[n]``: P(``token_id``) at each sequence's last position, under ``interventions``."""
    if not 0 <= token_id < lm.adapter.vocab_size:
        raise InvalidInputError(
            f"token id {token_id} is out of range: the vocabulary has ids 0..{lm.adapter.vocab_size - 1}"
        )
    interventions = list(interventions)
    out = torch.empty(len(sequences), dtype=torch.float32)
    pad = resolve_pad_id(lm.tokenizer)
    for batch in token_batches(sequences, pad, batch_size=batch_size, by_length=True):
        rows, ids, mask = batch.rows, batch.input_ids, batch.attention_mask
        logits = last_token_logits(lm, ids, mask, interventions)
        out[rows] = logits.softmax(dim=-1)[:, token_id]
    return out


def head_ablation_drop(
    lm: LanguageModel,
    sequences: Sequence[Sequence[int]],
    layer: int,
    head: int,
    token_id: int,
    batch_size: int = 32,
    *,
    clean: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[n]``: P(``token_id`` at the last position) clean minus with head ``(layer, head)``'s value
    vectors zero-ablated at all positions (see the module docstring for why ``attn_z``).

    Pass ``clean`` (from :func:`token_probabilities`) when checking several heads on the same
    sequences, so the clean pass runs once.
    """
    lm.adapter.check_layer(layer)
    lm.adapter.check_head(head, layer)
    if clean is None:
        clean = token_probabilities(lm, sequences, token_id, batch_size)
    elif clean.shape != (len(sequences),):
        raise InvalidInputError("clean must hold one probability per sequence")
    ablate = zero_ablate(f"attn_z.{layer}", heads=[head])
    ablated = token_probabilities(lm, sequences, token_id, batch_size, interventions=[ablate])
    return clean.float().cpu() - ablated
