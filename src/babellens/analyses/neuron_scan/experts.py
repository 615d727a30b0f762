"""The scan of a mixture-of-experts layer: every (expert, neuron) is a unit, seen where routed.

A token the router did not send to expert ``e`` has no activation in ``e`` (``expert_post``
holds NaN there), which is not an activation of zero. So each expert's neurons are folded with
their own mask, the real positions the router sent to that expert: the histogram, density, mean
and maximum of a unit are "of the tokens routed to its expert", and its top windows rank by the
maximum over those tokens. A kept window's activations are NaN at the tokens that went elsewhere,
so a page can say "not routed" instead of showing 0.

Units are numbered as :mod:`~babellens.analyses.neuron_scan.expert_units` says: the routed
(expert, neuron) pairs, then a shared expert's neurons (every token goes through it: an ordinary
MLP). The layer's state is the parts' states concatenated in that order (``n_tokens`` per part,
``layout`` = experts, neurons per expert, shared neurons), so the store, a resume and a merge of
Ray shards read it like any layer's.
"""

from __future__ import annotations

import torch

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator
from babellens.analyses.neuron_scan.expert_units import expert_unit
from babellens.analyses.neuron_scan.fused_stats import StatsBackend

__all__ = ["ExpertLayerAccumulator", "expert_unit"]


class ExpertLayerAccumulator:
    def __init__(
        self,
        n_experts: int,
        d_expert: int,
        k: int,
        window_len: int,
        device: torch.device | str = "cpu",
        stats: StatsBackend | None = None,
        d_shared: int = 0,
    ) -> None:
        # sparse updates: a kept window is written when it enters, so its unrouted tokens can
        # be marked right after (the dense mode's queue would merge them later)
        def part(units: int) -> LayerAccumulator:
            return LayerAccumulator(units, k, window_len, device, mode="sparse", stats=stats)

        self.experts = [part(d_expert) for _ in range(n_experts)]
        self.shared = part(d_shared) if d_shared else None
        self.n_experts, self.d_expert, self.d_shared = n_experts, d_expert, d_shared
        self.k, self.window_len = k, window_len
        self.d_mlp = n_experts * d_expert + d_shared

    @property
    def _parts(self) -> list[LayerAccumulator]:
        return self.experts + ([self.shared] if self.shared is not None else [])

    def update(
        self,
        acts: torch.Tensor,
        mask: torch.Tensor,
        window_ids: torch.Tensor,
        n_pad: int | None = None,
    ) -> None:
        """``acts`` [batch, pos, n_experts, d_expert] (NaN where not routed), ``mask`` [batch, pos]."""
        real = mask.bool()
        routed = ~torch.isnan(acts[..., 0]) & real.unsqueeze(-1)  # [batch, pos, n_experts]
        for e, acc in enumerate(self.experts):
            before = acc.top_windows.clone()
            chosen = routed[:, :, e]
            values = acts[:, :, e].nan_to_num(0.0)  # masked out below; NaN would poison sums
            acc.update(values, chosen, window_ids, int((~chosen).sum()))
            self._mark_unrouted(acc, before, window_ids, real & ~chosen)

    def update_shared(
        self,
        acts: torch.Tensor,
        mask: torch.Tensor,
        window_ids: torch.Tensor,
        n_pad: int | None = None,
    ) -> None:
        """``acts`` [batch, pos, d_shared]: the shared expert, an ordinary MLP on every token."""
        if self.shared is None:
            raise ValueError("this layer's accumulator has no shared expert")
        self.shared.update(acts, mask, window_ids, n_pad)

    def _mark_unrouted(
        self,
        acc: LayerAccumulator,
        before: torch.Tensor,
        window_ids: torch.Tensor,
        elsewhere: torch.Tensor,
    ) -> None:
        """NaN at the real tokens of newly kept windows that the router sent elsewhere."""
        rows, slots = (acc.top_windows != before).nonzero(as_tuple=True)
        if rows.numel() == 0:
            return
        ids = window_ids.to(acc.top_windows.device)
        batch_rows = torch.searchsorted(ids, acc.top_windows[rows, slots])
        width = min(elsewhere.shape[1], self.window_len)
        where = elsewhere[batch_rows, :width]  # [new examples, pos]
        kept = acc.top_acts[rows, slots, :width]
        acc.top_acts[rows, slots, :width] = kept.masked_fill(where, float("nan"))

    def flush(self) -> None:
        for acc in self._parts:
            acc.flush()

    def merge(self, other: ExpertLayerAccumulator) -> None:
        for mine, theirs in zip(self._parts, other._parts, strict=True):
            mine.merge(theirs)

    # ---- the layer's view: experts' units one after another, then the shared expert's --------
    def _cat(self, name: str) -> torch.Tensor:
        return torch.cat([getattr(acc, name) for acc in self._parts])

    top_windows = property(lambda self: self._cat("top_windows"))
    act_max = property(lambda self: self._cat("act_max"))
    hist = property(lambda self: self._cat("hist"))
    density = property(lambda self: self._cat("density"))
    mean = property(lambda self: self._cat("mean"))

    @property
    def n_tokens(self) -> torch.Tensor:
        """``[units]``: the real tokens routed to each unit's expert (all, for shared units)."""
        return torch.cat([acc.n_tokens.expand(acc.d_mlp) for acc in self._parts])

    def state_dict(self) -> dict[str, torch.Tensor]:
        states = [acc.state_dict() for acc in self._parts]
        merged = {k: torch.cat([s[k] for s in states]) for k in states[0] if k != "n_tokens"}
        merged["n_tokens"] = torch.stack([s["n_tokens"] for s in states])
        merged["layout"] = torch.tensor([self.n_experts, self.d_expert, self.d_shared])
        return merged

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        start = 0
        for i, acc in enumerate(self._parts):
            rows = slice(start, start + acc.d_mlp)
            start += acc.d_mlp
            part = {k: v[rows] for k, v in state.items() if k not in ("n_tokens", "layout")}
            acc.load_state_dict({**part, "n_tokens": state["n_tokens"][i]})

    @classmethod
    def like(
        cls, state: dict[str, torch.Tensor], k: int, window_len: int
    ) -> ExpertLayerAccumulator:
        """An empty accumulator (CPU) of the layout a saved ``state`` has."""
        n_experts, d_expert, d_shared = (int(v) for v in state["layout"])
        return cls(n_experts, d_expert, k, window_len, "cpu", d_shared=d_shared)
