"""Running per-neuron statistics of one layer, updated inside the hook, mergeable across shards.

Memory is ``d_mlp × k × window`` for the examples plus ``d_mlp × bins`` for the histograms: it
never grows with the corpus. The top-k order is value descending, then window index ascending,
kept by a stable sort over (current top-k, new windows in index order); two accumulators over
disjoint window ranges therefore merge into exactly the accumulator of the whole range.
"""

from __future__ import annotations

import torch

from babellens.analyses.neuron_scan.histogram import N_BINS, bin_edges, bin_index

__all__ = ["LayerAccumulator"]

_STATE_KEYS = ("top_values", "top_windows", "top_positions", "top_acts", "hist", "n_tokens", "n_positive",
               "act_sum", "act_max")  # fmt: skip


class LayerAccumulator:
    def __init__(
        self, d_mlp: int, k: int, window_len: int, device: torch.device | str = "cpu"
    ) -> None:
        self.d_mlp, self.k, self.window_len = d_mlp, k, window_len
        dev = torch.device(device)
        self.top_values = torch.full((d_mlp, k), float("-inf"), device=dev)
        self.top_windows = torch.full((d_mlp, k), -1, dtype=torch.long, device=dev)
        self.top_positions = torch.full((d_mlp, k), -1, dtype=torch.long, device=dev)
        self.top_acts = torch.zeros((d_mlp, k, window_len), dtype=torch.float16, device=dev)
        self.hist = torch.zeros((d_mlp, N_BINS), dtype=torch.long, device=dev)
        self.n_tokens = torch.zeros((), dtype=torch.long, device=dev)
        self.n_positive = torch.zeros(d_mlp, dtype=torch.long, device=dev)
        self.act_sum = torch.zeros(d_mlp, dtype=torch.float64, device=dev)
        self.act_max = torch.full((d_mlp,), float("-inf"), device=dev)
        self._edges = bin_edges().to(dev, torch.float32)
        self._offsets = torch.arange(d_mlp, device=dev) * N_BINS

    # ---- update -----------------------------------------------------------------------------
    def update(self, acts: torch.Tensor, mask: torch.Tensor, window_ids: torch.Tensor) -> None:
        """``acts`` [batch, pos, d_mlp] of windows ``window_ids`` (ascending), ``mask`` [batch, pos]."""
        acts = acts.float()
        real = mask.bool()
        self._update_stats(acts[real])
        masked = acts.masked_fill(~real.unsqueeze(-1), float("-inf"))
        batch_max, batch_pos = masked.max(dim=1)  # [batch, d_mlp]
        padded = torch.zeros((*acts.shape[:2], self.d_mlp), device=acts.device, dtype=torch.float16)
        padded.copy_(acts.masked_fill(~real.unsqueeze(-1), 0.0))
        if padded.shape[1] < self.window_len:
            padded = torch.nn.functional.pad(padded, (0, 0, 0, self.window_len - padded.shape[1]))
        self._merge_top(
            batch_max.T,
            window_ids.to(acts.device).unsqueeze(0).expand(self.d_mlp, -1),
            batch_pos.T,
            padded.permute(2, 0, 1),
        )

    def _update_stats(self, flat: torch.Tensor) -> None:
        """Statistics of real tokens ``flat`` [tokens, d_mlp]."""
        if flat.numel() == 0:
            return
        self.n_tokens += flat.shape[0]
        self.n_positive += (flat > 0).sum(dim=0)
        self.act_sum += flat.sum(dim=0, dtype=torch.float64)
        self.act_max = torch.maximum(self.act_max, flat.amax(dim=0))
        bins = bin_index(flat, self._edges) + self._offsets
        self.hist += torch.bincount(bins.flatten(), minlength=self.d_mlp * N_BINS).view(
            self.d_mlp, N_BINS
        )

    def _merge_top(self, values: torch.Tensor, windows: torch.Tensor, positions: torch.Tensor,
                   acts: torch.Tensor) -> None:  # fmt: skip
        all_values = torch.cat([self.top_values, values], dim=1)
        order = torch.sort(all_values, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.top_values = all_values.gather(1, order)
        self.top_windows = torch.cat([self.top_windows, windows], dim=1).gather(1, order)
        self.top_positions = torch.cat([self.top_positions, positions], dim=1).gather(1, order)
        all_acts = torch.cat([self.top_acts, acts], dim=1)
        self.top_acts = all_acts.gather(1, order.unsqueeze(-1).expand(-1, -1, self.window_len))

    def merge(self, other: LayerAccumulator) -> None:
        """Fold in an accumulator of windows that all come after this one's (exact)."""
        self.n_tokens += other.n_tokens
        self.n_positive += other.n_positive
        self.act_sum += other.act_sum
        self.act_max = torch.maximum(self.act_max, other.act_max)
        self.hist += other.hist
        self._merge_top(other.top_values, other.top_windows, other.top_positions, other.top_acts)

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {key: getattr(self, key).detach().to("cpu", copy=True) for key in _STATE_KEYS}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key in _STATE_KEYS:
            current = getattr(self, key)
            setattr(self, key, state[key].to(current.device, current.dtype).clone())

    @property
    def density(self) -> torch.Tensor:
        return self.n_positive.double() / self.n_tokens.clamp_min(1)

    @property
    def mean(self) -> torch.Tensor:
        return self.act_sum / self.n_tokens.clamp_min(1)
