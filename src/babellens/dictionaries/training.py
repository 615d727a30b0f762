"""Train one dictionary, or a set of them on the same tokens, resumably and deterministically.

Inputs (and targets) are scaled to a mean norm of sqrt(d) during training, so one learning rate
and one penalty fit every model and layer; the scale is folded back into the weights when the
dictionary is returned. Decoder rows stay at unit norm (the gradient along them is removed before
each step and the rows renormalised after it). Dead features get the aux-k loss. The state after
each chunk (weights, Adam moments, dead counters, where the data stream is) is the checkpoint, so
a resumed run continues with exactly the batches and the optimiser state an uninterrupted run had.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from babellens.control import LocalControl, RunControl, StopRequested
from babellens.dictionaries.activations import ActivationChunk, RowSource
from babellens.dictionaries.config import DictTrainParams
from babellens.dictionaries.losses import aux_k_loss, encode_for_training
from babellens.dictionaries.model import SparseDictionary
from babellens.dictionaries.sparse_topk import sparse_topk
from babellens.models.devices import available_device

__all__ = ["TrainedDictionaries", "train_dictionaries"]


@dataclass
class TrainedDictionaries:
    dictionaries: list[SparseDictionary]
    tokens_trained: int
    steps: int
    metrics: list[dict[str, float]] = field(default_factory=list)
    """Per member, the training metrics of the last chunk (loss, fvu, l0, dead_fraction)."""


@dataclass
class _Member:
    sd: SparseDictionary
    scale_in: float = 1.0
    scale_out: float = 1.0
    since_fired: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    log_threshold: torch.Tensor | None = None
    sums: dict[str, float] = field(default_factory=dict)


class _Trainer:
    def __init__(
        self,
        source: RowSource,
        hooks: list[tuple[str, str]],
        kind: str,
        width: int,
        params: DictTrainParams,
    ) -> None:
        self.source, self.params = source, params
        self.device = available_device(params.device)
        dims = source.dims()
        self.members = [
            _Member(
                SparseDictionary(
                    dims[h_in],
                    width,
                    dims[h_out],
                    kind=kind,  # type: ignore[arg-type]
                    hook_in=h_in,
                    hook_out=h_out,
                    activation=params.activation,
                    k=params.k,
                    skip=params.skip,
                ).to(self.device)
            )
            for h_in, h_out in hooks
        ]
        for m in self.members:
            m.since_fired = torch.zeros(width, dtype=torch.long, device=self.device)
            if params.activation == "jumprelu":
                m.log_threshold = torch.nn.Parameter(
                    torch.full((width,), math.log(0.1), device=self.device)
                )
        # fused: one pass over each parameter per step instead of six (the same arithmetic)
        self.optimizer = torch.optim.Adam(self._parameters(), lr=self._peak_lr(width), fused=True)
        self.total_steps = sum(
            math.ceil(rows / params.batch_size)
            for epoch in range(params.epochs)
            for rows in source.chunk_rows(epoch)
        )
        self.step, self.tokens_done, self.epoch, self.next_chunk = 0, 0, 0, 0

    def _parameters(self) -> list[torch.nn.Parameter]:
        out: list[torch.nn.Parameter] = []
        for m in self.members:
            out += [p for p in m.sd.parameters()]
            if m.log_threshold is not None:
                out.append(m.log_threshold)
        return out

    def _peak_lr(self, width: int) -> float:
        return self.params.lr or 8e-4 / math.sqrt(width / 2**14)

    def lr_at(self, step: int) -> float:
        peak, p = self._peak_lr(self.members[0].sd.width), self.params
        warm = min(1.0, (step + 1) / p.warmup_steps) if p.warmup_steps else 1.0
        decay_start = self.total_steps * (1 - p.decay_fraction)
        if step < decay_start or p.decay_fraction == 0:
            return peak * warm
        return peak * warm * max(0.0, (self.total_steps - step) / (self.total_steps - decay_start))

    # ---- initialisation from the first chunk ----------------------------------------------------
    def initialise(self, first: ActivationChunk) -> None:
        generator = torch.Generator().manual_seed(self.params.seed)
        for m in self.members:
            sd = m.sd
            x, y = first.rows[sd.hook_in], first.rows[sd.hook_out]
            m.scale_in = math.sqrt(sd.d_in) / float(x.norm(dim=1).mean().clamp_min(1e-12))
            m.scale_out = math.sqrt(sd.d_out) / float(y.norm(dim=1).mean().clamp_min(1e-12))
            w_dec = torch.randn(sd.width, sd.d_out, generator=generator)
            w_dec /= w_dec.norm(dim=1, keepdim=True)
            with torch.no_grad():
                sd.W_dec.copy_(w_dec)
                if sd.kind == "sae":
                    sd.W_enc.copy_(w_dec.T)
                else:
                    w_enc = torch.randn(sd.d_in, sd.width, generator=generator)
                    sd.W_enc.copy_(w_enc / w_enc.norm(dim=0, keepdim=True))
                sd.b_dec.copy_((y * m.scale_out).mean(0))

    # ---- one step -------------------------------------------------------------------------------
    def train_step(self, rows: dict[str, torch.Tensor]) -> None:
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        for m in self.members:
            total = total + self._member_loss(m, rows)
        total.backward()
        for m in self.members:
            _remove_parallel_gradient(m.sd.W_dec)
        self.optimizer.step()
        with torch.no_grad():
            for m in self.members:
                m.sd.W_dec /= m.sd.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.step += 1

    def _member_loss(self, m: _Member, rows: dict[str, torch.Tensor]) -> torch.Tensor:
        sd = m.sd
        x = rows[sd.hook_in].to(self.device) * m.scale_in
        y = rows[sd.hook_out].to(self.device) * m.scale_out
        total_variance = (y - y.mean(0)).pow(2).sum().clamp_min(1e-12)
        if sd.activation == "topk":
            loss, fvu, l0, dead = self._sparse_topk_loss(m, x, y, total_variance)
        else:
            loss, fvu, l0, dead = self._dense_loss(m, x, y, total_variance)
        n = float(x.shape[0])
        for key, value in (
            ("loss", float(loss.detach())),
            ("fvu", float(fvu.detach())),
            ("l0", l0),
            ("dead_fraction", float(dead.float().mean())),
        ):
            m.sums[key] = m.sums.get(key, 0.0) + value * n
        m.sums["rows"] = m.sums.get("rows", 0.0) + n
        return loss

    def _mark_fired(self, m: _Member, fired: torch.Tensor, rows: int) -> torch.Tensor:
        """Update the tokens-since-fired counters; returns the dead mask."""
        m.since_fired += rows
        m.since_fired[fired] = 0
        return m.since_fired >= self.params.dead_after_tokens

    def _sparse_topk_loss(
        self, m: _Member, x: torch.Tensor, y: torch.Tensor, total_variance: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
        chosen = sparse_topk(m.sd, x)
        residual = y - chosen.decode()
        fvu = residual.pow(2).sum() / total_variance
        dead = self._mark_fired(m, chosen.fired(), x.shape[0])
        loss = fvu
        if self.params.auxk_alpha > 0:
            loss = loss + self.params.auxk_alpha * chosen.aux_k_loss(residual, dead, total_variance)
        return loss, fvu, chosen.l0(), dead

    def _dense_loss(
        self, m: _Member, x: torch.Tensor, y: torch.Tensor, total_variance: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
        sd, p = m.sd, self.params
        out = encode_for_training(
            sd,
            x,
            log_threshold=m.log_threshold,
            l1_coefficient=p.l1_coefficient,
            l0_coefficient=p.l0_coefficient,
            y_rms=(total_variance / y.shape[0]).sqrt(),
        )
        residual = y - sd.decode(out.acts, x)
        fvu = residual.pow(2).sum() / total_variance
        dead = self._mark_fired(m, (out.acts > 0).any(0), x.shape[0])
        loss = fvu + out.penalty
        if p.auxk_alpha > 0 and p.activation == "batchtopk":
            loss = loss + p.auxk_alpha * aux_k_loss(
                sd, sd.pre_acts(x), residual, dead, total_variance
            )
        if out.batch_threshold is not None:
            with torch.no_grad():  # a running average of the batch thresholds
                rate = 1.0 if self.step == 0 else 0.01
                sd.threshold.mul_(1 - rate).add_(rate * out.batch_threshold)
        return loss, fvu, float((out.acts.detach() > 0).sum(-1).float().mean()), dead

    def chunk_metrics(self) -> list[dict[str, float]]:
        out = []
        for m in self.members:
            rows = m.sums.get("rows", 0.0) or 1.0
            out.append({k: v / rows for k, v in m.sums.items() if k != "rows"})
        return out

    # ---- state ----------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors: dict[str, torch.Tensor] = {}
        for i, m in enumerate(self.members):
            for name, value in m.sd.state_dict().items():
                tensors[f"m{i}.{name}"] = value
            tensors[f"m{i}.since_fired"] = m.since_fired
            if m.log_threshold is not None:
                tensors[f"m{i}.log_threshold"] = m.log_threshold.detach()
        for index, entry in self.optimizer.state_dict()["state"].items():
            for key, value in entry.items():
                tensors[f"adam.{index}.{key}"] = torch.as_tensor(value)
        meta = {
            "step": self.step,
            "tokens_done": self.tokens_done,
            "epoch": self.epoch,
            "next_chunk": self.next_chunk,
            "scales": [[m.scale_in, m.scale_out] for m in self.members],
        }
        return tensors, meta

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        for i, m in enumerate(self.members):
            own = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"m{i}.")}
            m.since_fired = own.pop("since_fired").to(self.device)
            if m.log_threshold is not None:
                with torch.no_grad():
                    m.log_threshold.copy_(own.pop("log_threshold"))
            m.sd.load_state_dict(own)
            m.scale_in, m.scale_out = meta["scales"][i]
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("adam."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value
        groups = self.optimizer.state_dict()["param_groups"]
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})
        self.step, self.tokens_done = meta["step"], meta["tokens_done"]
        self.epoch, self.next_chunk = meta["epoch"], meta["next_chunk"]

    def folded(self) -> list[SparseDictionary]:
        return [_fold(m) for m in self.members]


def _remove_parallel_gradient(w_dec: torch.nn.Parameter) -> None:
    if w_dec.grad is None:
        return
    with torch.no_grad():
        parallel = (w_dec.grad * w_dec).sum(dim=1, keepdim=True)
        w_dec.grad -= parallel * w_dec


def _fold(m: _Member) -> SparseDictionary:
    """The same function on raw activations: x' = s_in·x in, y = y'/s_out out."""
    sd = m.sd
    out = SparseDictionary.from_config(sd.config)
    with torch.no_grad():
        out.W_enc.copy_(sd.W_enc.detach().cpu() * m.scale_in)
        out.b_enc.copy_(sd.b_enc.detach().cpu())
        out.W_dec.copy_(sd.W_dec.detach().cpu() / m.scale_out)
        out.b_dec.copy_(sd.b_dec.detach().cpu() / m.scale_out)
        threshold = m.log_threshold.exp() if m.log_threshold is not None else sd.threshold
        out.threshold.copy_(threshold.detach().cpu())
        if sd.W_skip is not None and out.W_skip is not None:
            out.W_skip.copy_(sd.W_skip.detach().cpu() * m.scale_in / m.scale_out)
    return out


def train_dictionaries(
    source: RowSource,
    hooks: list[tuple[str, str]],
    kind: str,
    width: int,
    params: DictTrainParams,
    control: RunControl | None = None,
) -> TrainedDictionaries:
    """Train one dictionary per (hook_in, hook_out) on the same rows; resumes from ``control``."""
    control = control or LocalControl()
    torch.manual_seed(params.seed)
    trainer = _Trainer(source, hooks, kind, width, params)
    checkpoint = control.load_state()
    fresh = checkpoint is None
    if checkpoint is not None:
        trainer.restore(checkpoint.tensors, checkpoint.meta)
    total_tokens = source.tokens_per_epoch * params.epochs
    last_save = time.monotonic()
    while trainer.epoch < params.epochs:
        for chunk in source.chunks(trainer.epoch, start=trainer.next_chunk):
            if fresh:
                trainer.initialise(chunk)
                fresh = False
            for m in trainer.members:
                m.sums = {}
            for start in range(0, chunk.n_rows, params.batch_size):
                trainer.train_step(
                    {h: r[start : start + params.batch_size] for h, r in chunk.rows.items()}
                )
            trainer.tokens_done += chunk.n_rows
            trainer.next_chunk = chunk.index + 1
            control.progress(
                trainer.tokens_done, total_tokens, "tokens", _message(trainer.chunk_metrics())
            )
            stop = control.should_stop()
            if stop or time.monotonic() - last_save >= params.checkpoint_every_s:
                control.save_state(*trainer.state(), done=trainer.tokens_done)
                last_save = time.monotonic()
            if stop:
                raise StopRequested
        trainer.epoch, trainer.next_chunk = trainer.epoch + 1, 0
    return TrainedDictionaries(
        trainer.folded(), trainer.tokens_done, trainer.step, trainer.chunk_metrics()
    )


def _message(metrics: list[dict[str, float]]) -> str:
    """Live metrics of the last chunk (averaged over the members of a set)."""
    keys = ("loss", "fvu", "l0", "dead_fraction")
    mean = {k: sum(m.get(k, 0.0) for m in metrics) / max(1, len(metrics)) for k in keys}
    return (
        f"loss {mean['loss']:.4f} · FVU {mean['fvu']:.3f} · L0 {mean['l0']:.1f} · "
        f"dead {mean['dead_fraction']:.1%}"
    )
