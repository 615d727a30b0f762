"""Max-activating prompts of chosen neurons: from a finished scan when one fits, else one pass.

A prompt is a corpus window cut right after the token where the neuron peaks, so that token is
the prompt's last (the paper's "cut at the max-activating token"). The targeted pass captures only
the chosen neurons of the chosen layers, reduces them to (max, argmax) per window inside the hook,
stops after the last needed layer and keeps a running top-k per neuron: memory is bounded by
neurons × k whatever the corpus size. A leading BOS never counts as the peak: every window starts
with it, so it says nothing about the window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from babellens.analyses.next_token_neurons import NextTokenNeuron
from babellens.analyses.topk import RunningTopK
from babellens.capture.language_model import LanguageModel
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, batches

__all__ = ["MaxPrompt", "StoredInputs", "Target", "collect_prompts"]

Target = tuple[int, int]
"""(layer, neuron)."""


class StoredInputs(Protocol):
    """What the look-ups may reuse from earlier jobs; the store implements it
    (:class:`babellens.store.lookups_inputs.StoredLookupsInputs`), so this package never reads
    the database itself."""

    def token_neurons(
        self, model: str, layers: Sequence[int], d_mlp: int
    ) -> list[NextTokenNeuron] | None:
        """Every neuron's congruence in ``layers`` from a finished job (final norm folded in)."""
        ...

    def find_scan(
        self,
        model: str,
        *,
        corpus: str,
        split: str,
        window_len: int,
        max_tokens: int | None,
        layers: Sequence[int],
        k: int,
    ) -> int | None:
        """The newest finished scan whose windows and top-k are exactly what this run needs."""
        ...

    def prompts_from_scan(
        self, job_id: int, targets: Sequence[Target], k: int, *, has_bos: bool
    ) -> dict[Target, list[MaxPrompt]]:
        """The scan's top windows of the targets whose top ``k`` it holds exactly."""
        ...


@dataclass(frozen=True)
class MaxPrompt:
    window: int
    doc_id: str | None
    lang: str | None
    position: int  # of the peak within the window
    value: float  # the neuron's activation there
    token_ids: tuple[int, ...]  # the window up to and including the peak

    def to_json(self) -> list[Any]:
        return [
            self.window,
            self.doc_id,
            self.lang,
            self.position,
            self.value,
            list(self.token_ids),
        ]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> MaxPrompt:
        w, doc, lang, pos, value, ids = data
        return cls(int(w), doc, lang, int(pos), float(value), tuple(int(i) for i in ids))


def collect_prompts(
    lm: LanguageModel,
    windows: Sequence[Window],
    targets: Sequence[Target],
    k: int,
    *,
    doc_info: Callable[[int], tuple[str | None, str | None]] = lambda _d: (None, None),
    tokens_per_batch: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> dict[Target, list[MaxPrompt]]:
    """The ``k`` windows where each target peaks, each cut after its peak (one corpus pass)."""
    if not targets or not windows:
        return {t: [] for t in targets}
    by_layer: dict[int, list[int]] = {}
    for layer, neuron in targets:
        by_layer.setdefault(layer, []).append(neuron)
    index = {layer: torch.tensor(neurons) for layer, neurons in by_layer.items()}
    bos = windows[0].has_bos

    def reducer(layer: int) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
        def reduce(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            picked = x[:, :, index[layer].to(x.device)].float()  # [batch, pos, t]
            real = torch.ones(picked.shape[:2], dtype=torch.bool, device=x.device)
            if mask is not None:
                real = mask.bool()
            if bos:
                real = real.clone()
                real[:, 0] = False
            picked = picked.masked_fill(~real.unsqueeze(-1), float("-inf"))
            best, where = picked.max(dim=1)  # [batch, t]
            return torch.stack([best, where.float()], dim=-1).cpu()

        return reduce

    reduce = {f"mlp_post.{layer}": reducer(layer) for layer in index}
    tops = {layer: RunningTopK(len(neurons), k) for layer, neurons in by_layer.items()}
    pad = resolve_pad_id(lm.tokenizer)
    all_batches = list(batches(windows, tokens_per_batch=tokens_per_batch, pad_id=pad))
    for done, batch in enumerate(all_batches, 1):
        out = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=list(reduce),
            reduce=reduce,
        )
        for layer, top in tops.items():
            reduced = out[f"mlp_post.{layer}"]  # [batch, t, 2]
            top.update(reduced[..., 0].T, batch.indices, reduced[..., 1].T.long())
        if progress is not None:
            progress(done, len(all_batches))
    return _prompts(targets, by_layer, tops, windows, doc_info)


def _prompts(
    targets: Sequence[Target],
    by_layer: dict[int, list[int]],
    tops: dict[int, RunningTopK],
    windows: Sequence[Window],
    doc_info: Callable[[int], tuple[str | None, str | None]],
) -> dict[Target, list[MaxPrompt]]:
    result: dict[Target, list[MaxPrompt]] = {}
    for layer, neuron in targets:
        row = by_layer[layer].index(neuron)
        top = tops[layer]
        prompts = []
        for value, w, pos in zip(
            top.values[row].tolist(),
            top.windows[row].tolist(),
            top.positions[row].tolist(),
            strict=True,
        ):
            if value == float("-inf"):
                continue
            window = windows[w]
            doc_id, lang = doc_info(window.doc_index)
            prompts.append(MaxPrompt(w, doc_id, lang, pos, value, window.token_ids[: pos + 1]))
        result[(layer, neuron)] = prompts
    return result
