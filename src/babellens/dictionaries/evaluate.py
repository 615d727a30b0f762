"""Evaluate dictionaries on held-out text: reconstruction, sparsity, and the downstream cost.

Reconstruction (FVU, explained variance), L0, dead and dense fractions and a density histogram
come from the captured activations. The downstream cost splices the dictionary into the forward
pass through capture's interventions (its output replaces the hook point's value at every
position but a leading BOS, which dictionaries never train on) and compares the next-token
cross-entropy with the clean model's and with zero- and mean-ablating the same point: the
fraction of CE loss recovered, and the KL divergence from the clean next-token distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from pydantic import BaseModel

from babellens.capture.interventions import Intervention
from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, WindowBatch, batches
from babellens.dictionaries.model import SparseDictionary

__all__ = ["DENSE_ABOVE", "MemberEval", "evaluate_dictionaries", "spliced_interventions"]

DENSE_ABOVE = 0.1
"""A feature firing on more than this share of tokens counts as dense."""
_HIST_EDGES = [-7.0 + 0.5 * i for i in range(15)]  # log10 density, -7 .. 0


class MemberEval(BaseModel):
    hook_in: str
    hook_out: str
    tokens: int
    fvu: float
    explained_variance: float
    l0: float
    dead_fraction: float
    dense_fraction: float
    density_log10_edges: list[float]
    density_histogram: list[int]
    ce_clean: float | None = None
    ce_spliced: float | None = None
    ce_zero_ablated: float | None = None
    ce_mean_ablated: float | None = None
    ce_recovered_vs_zero: float | None = None
    ce_recovered_vs_mean: float | None = None
    kl_spliced: float | None = None
    kl_zero_ablated: float | None = None


@dataclass
class _Totals:
    width: int
    sq_error: float = 0.0
    sum_y: torch.Tensor | None = None
    sum_sq_y: float = 0.0
    l0_sum: float = 0.0
    rows: int = 0
    fires: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    ce: dict[str, float] = field(default_factory=dict)
    kl: dict[str, float] = field(default_factory=dict)
    ce_tokens: int = 0


def _positions(batch: WindowBatch, has_bos: bool) -> list[int]:
    return list(range(1 if has_bos else 0, batch.input_ids.shape[1]))


def spliced_interventions(
    sd: SparseDictionary, positions: Sequence[int] | None = None
) -> list[Intervention]:
    """The interventions that make the model run with ``sd`` in place of its hook_out."""
    stash: dict[str, torch.Tensor] = {}

    def keep(x: torch.Tensor) -> torch.Tensor:
        stash["x"] = x
        return x

    def decode(y: torch.Tensor) -> torch.Tensor:
        x = stash.get("x", y)
        return sd(x.to(sd.W_enc.dtype)).to(y.dtype)

    edits = []
    if sd.hook_in != sd.hook_out:
        edits.append(Intervention(sd.hook_in, "fn", keep))
    edits.append(Intervention(sd.hook_out, "fn", decode, positions=positions))
    return edits


def _constant(point: str, value: torch.Tensor, positions: Sequence[int]) -> Intervention:
    return Intervention(point, "fn", lambda y: value.to(y).expand_as(y), positions=positions)


def _ce_and_logprobs(logits: torch.Tensor, batch: WindowBatch) -> tuple[float, torch.Tensor, int]:
    """Summed next-token CE over real positions, the log-probs there, and their count."""
    mask = (batch.attention_mask[:, 1:] * batch.attention_mask[:, :-1]).bool()
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)[mask]
    targets = batch.input_ids[:, 1:][mask].to(logp.device)
    ce = -logp.gather(1, targets[:, None]).sum()
    return float(ce), logp, int(mask.sum())


def _kl(clean: torch.Tensor, other: torch.Tensor) -> float:
    return float((clean.exp() * (clean - other)).sum())


def _run_batches(
    lm: LanguageModel, windows: Sequence[Window], tokens_per_batch: int
) -> list[WindowBatch]:
    pad_id = resolve_pad_id(lm.tokenizer)
    return list(batches(windows, tokens_per_batch=tokens_per_batch, pad_id=pad_id))


def _means(
    lm: LanguageModel, dictionaries: Sequence[SparseDictionary], runs: list[WindowBatch], bos: bool
) -> dict[str, torch.Tensor]:
    """The mean of every hook_out over the evaluation tokens (the mean-ablation value)."""
    points = sorted({sd.hook_out for sd in dictionaries})
    sums = {p: torch.zeros(()) for p in points}
    count = 0
    for batch in runs:
        out = lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}, capture=points
        )
        mask = batch.attention_mask.bool().clone()
        if bos:
            mask[:, 0] = False
        for p in points:
            sums[p] = sums[p] + out[p][mask.to(out[p].device)].float().sum(0).cpu()
        count += int(mask.sum())
    return {p: s / max(count, 1) for p, s in sums.items()}


def evaluate_dictionaries(
    lm: LanguageModel,
    dictionaries: Sequence[SparseDictionary],
    windows: Sequence[Window],
    *,
    tokens_per_batch: int = 2048,
    downstream: bool = True,
    control: RunControl | None = None,
) -> list[MemberEval]:
    """One :class:`MemberEval` per dictionary (each spliced in alone for the downstream cost)."""
    control = control or LocalControl()
    bos = bool(windows) and windows[0].has_bos
    runs = _run_batches(lm, windows, tokens_per_batch)
    means = _means(lm, dictionaries, runs, bos) if downstream else {}
    totals = [
        _Totals(sd.width, fires=torch.zeros(sd.width, dtype=torch.long)) for sd in dictionaries
    ]
    points = sorted({p for sd in dictionaries for p in (sd.hook_in, sd.hook_out)})
    for i, batch in enumerate(runs):
        if control.should_stop():
            raise StopRequested
        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        clean = lm.run(inputs, capture=points, logits=downstream)
        mask = batch.attention_mask.bool().clone()
        if bos:
            mask[:, 0] = False
        for sd, tot in zip(dictionaries, totals, strict=True):
            _fold_reconstruction(sd, tot, clean[sd.hook_in], clean[sd.hook_out], mask)
        if downstream:
            assert clean.logits is not None
            ce, clean_logp, n = _ce_and_logprobs(clean.logits, batch)
            positions = _positions(batch, bos)
            for sd, tot in zip(dictionaries, totals, strict=True):
                tot.ce["clean"] = tot.ce.get("clean", 0.0) + ce
                tot.ce_tokens += n
                _fold_downstream(lm, batch, sd, tot, clean_logp, means[sd.hook_out], positions)
        control.progress(i + 1, len(runs), "batches")
    return [_finish(sd, tot) for sd, tot in zip(dictionaries, totals, strict=True)]


def _fold_downstream(
    lm: LanguageModel,
    batch: WindowBatch,
    sd: SparseDictionary,
    tot: _Totals,
    clean_logp: torch.Tensor,
    mean: torch.Tensor,
    positions: Sequence[int],
) -> None:
    """CE and KL of the batch with ``sd`` spliced in, and with the point zero- and mean-ablated."""
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    variants = {
        "spliced": spliced_interventions(sd, positions),
        "zero": [_constant(sd.hook_out, torch.zeros(()), positions)],
        "mean": [_constant(sd.hook_out, mean, positions)],
    }
    for name, edits in variants.items():
        logits = lm.run(inputs, interventions=edits, logits=True).logits
        assert logits is not None
        ce, logp, _ = _ce_and_logprobs(logits, batch)
        tot.ce[name] = tot.ce.get(name, 0.0) + ce
        tot.kl[name] = tot.kl.get(name, 0.0) + _kl(clean_logp, logp)


def _fold_reconstruction(
    sd: SparseDictionary, tot: _Totals, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor
) -> None:
    mask = mask.to(x.device)
    x, y = x[mask].float(), y[mask].float()
    with torch.inference_mode():
        f = sd.encode(x.to(sd.W_enc.device))
        y_hat = sd.decode(f, x.to(sd.W_enc.device)).to(y.device)
    tot.sq_error += float((y - y_hat).pow(2).sum())
    tot.sum_y = y.sum(0).cpu() if tot.sum_y is None else tot.sum_y + y.sum(0).cpu()
    tot.sum_sq_y += float(y.pow(2).sum())
    fired = f > 0
    tot.l0_sum += float(fired.sum())
    tot.fires += fired.sum(0).cpu()
    tot.rows += int(x.shape[0])


def _finish(sd: SparseDictionary, tot: _Totals) -> MemberEval:
    rows = max(tot.rows, 1)
    mean_y = tot.sum_y / rows if tot.sum_y is not None else torch.zeros(())
    variance = tot.sum_sq_y - rows * float(mean_y.pow(2).sum())
    fvu = tot.sq_error / variance if variance > 0 else 0.0
    density = tot.fires.double() / rows
    live = density[density > 0].log10().clamp(min=_HIST_EDGES[0], max=0.0)
    hist = (
        torch.histogram(live.float(), bins=torch.tensor(_HIST_EDGES)).hist if live.numel() else None
    )
    result = MemberEval(
        hook_in=sd.hook_in,
        hook_out=sd.hook_out,
        tokens=tot.rows,
        fvu=fvu,
        explained_variance=1.0 - fvu,
        l0=tot.l0_sum / rows,
        dead_fraction=float((density == 0).double().mean()),
        dense_fraction=float((density > DENSE_ABOVE).double().mean()),
        density_log10_edges=_HIST_EDGES,
        density_histogram=[int(v) for v in hist]
        if hist is not None
        else [0] * (len(_HIST_EDGES) - 1),
    )
    if tot.ce_tokens:
        n = tot.ce_tokens
        clean, spliced = tot.ce["clean"] / n, tot.ce["spliced"] / n
        zero, mean = tot.ce["zero"] / n, tot.ce["mean"] / n
        result.ce_clean, result.ce_spliced = clean, spliced
        result.ce_zero_ablated, result.ce_mean_ablated = zero, mean
        result.ce_recovered_vs_zero = _recovered(clean, spliced, zero)
        result.ce_recovered_vs_mean = _recovered(clean, spliced, mean)
        result.kl_spliced, result.kl_zero_ablated = tot.kl["spliced"] / n, tot.kl["zero"] / n
    return result


def _recovered(clean: float, spliced: float, ablated: float) -> float | None:
    gap = ablated - clean
    return None if abs(gap) < 1e-12 else (ablated - spliced) / gap
