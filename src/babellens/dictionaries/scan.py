"""The feature scan: the neuron scan's accumulator fed with a dictionary's feature activations.

Features are units like MLP neurons, so the scan keeps exactly what the neuron scan keeps (top-k
contexts with per-token activations, histogram, density, mean, max) with the same accumulator,
and stores it in the same tables, member index in place of the layer. Resumable at batch
boundaries with the run control, ending with exactly the result of an uninterrupted scan.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator, Workspace
from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, batches
from babellens.dictionaries.codes import masked_codes
from babellens.dictionaries.model import SparseDictionary

__all__ = ["scan_features"]


def scan_features(
    lm: LanguageModel,
    dictionaries: Sequence[SparseDictionary],
    windows: Sequence[Window],
    *,
    k: int = 20,
    window_len: int = 128,
    tokens_per_batch: int = 2048,
    checkpoint_every_s: float = 60.0,
    control: RunControl | None = None,
) -> list[LayerAccumulator]:
    """One accumulator per dictionary (member), over every token of ``windows``."""
    control = control or LocalControl()
    workspace = Workspace()
    accs = [LayerAccumulator(sd.width, k, window_len, lm.device, workspace) for sd in dictionaries]
    done = 0
    state = control.load_state()
    if state is not None:
        for i, acc in enumerate(accs):
            prefix = f"{i}."
            acc.load_state_dict(
                {
                    n.removeprefix(prefix): v
                    for n, v in state.tensors.items()
                    if n.startswith(prefix)
                }
            )
        done = int(state.meta["windows_done"])
    tokens_before = [0]
    for w in windows:
        tokens_before.append(tokens_before[-1] + w.n_tokens)
    skip_bos = bool(windows) and windows[0].has_bos
    current = {"ids": torch.empty(0, dtype=torch.long)}

    def reducer(sd: SparseDictionary, acc: LayerAccumulator):
        def fold(x: torch.Tensor, mask: torch.Tensor | None) -> None:
            codes, kept = masked_codes(sd, x, mask, skip_bos)
            acc.update(codes, kept, current["ids"])

        return fold

    reduce = {sd.hook_in: reducer(sd, acc) for sd, acc in zip(dictionaries, accs, strict=True)}
    if len(reduce) != len(dictionaries):
        raise ValueError("members of one scan must read different hook points")
    pad_id = resolve_pad_id(lm.tokenizer)
    last_save = time.monotonic()
    for sd in dictionaries:
        sd.to(lm.device)
    for batch in batches(windows, tokens_per_batch=tokens_per_batch, pad_id=pad_id, start=done):
        if control.should_stop():
            _save(control, accs, done, tokens_before[done])
            raise StopRequested
        current["ids"] = batch.indices
        lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=list(reduce),
            reduce=reduce,
        )
        done += len(batch.indices)  # a position in ``windows`` (a Ray shard's indices are global)
        control.progress(tokens_before[done], tokens_before[-1], "tokens")
        if time.monotonic() - last_save >= checkpoint_every_s:
            _save(control, accs, done, tokens_before[done])
            last_save = time.monotonic()
    return accs


def _save(control: RunControl, accs: list[LayerAccumulator], done: int, tokens: int) -> None:
    tensors = {f"{i}.{n}": v for i, acc in enumerate(accs) for n, v in acc.state_dict().items()}
    control.save_state(tensors, {"windows_done": done}, tokens)
