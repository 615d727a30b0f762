"""Running per-neuron statistics of one layer, updated inside the hook, mergeable across shards.

Memory is ``d_mlp × k × window`` for the examples plus ``d_mlp × bins`` for the histograms: it
never grows with the corpus. The top-k order is value descending, then window index ascending.
The k kept examples sit in unordered slots: a batch only rewrites the slots it evicts, so a scan
late in a corpus, where few neurons change, costs little beyond the statistics. ``state_dict``
returns the canonical order, and two accumulators over disjoint window ranges merge into exactly
the accumulator of the whole range.

Whatever the model's dtype, the statistics are float32 (values, maxima), float64 (sums) and int64
(counts): a bfloat16 activation converts to float32 exactly. Two update strategies give the same
state bit for bit (the tests compare both with a brute-force scan):

- ``sparse`` (CPU default): only neurons whose best new window beats their weakest kept example
  are touched, which needs the changed neurons on the host, a synchronisation a CPU does not mind;
- ``dense`` (GPU default): every batch's per-window maxima, argmax positions and activations are
  queued on the device, and every ``merge_every`` batches all neurons' kept examples and the queue
  are merged in one sort; nothing is read back to the host per batch.

The histogram counts go through one ``bincount`` per batch over bin-major indices
(``bin × d_mlp + neuron``): neighbouring neurons of a token usually share a bin, so the scatter
stays in cache; on a CPU the tokens are split over the available threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import torch

from babellens.analyses.neuron_scan.fused_stats import (
    StatsBackend,
    fold_and_insert,
    kernel_available,
    kernel_dtypes,
)
from babellens.analyses.neuron_scan.histogram import N_BINS, POSITIVE_FROM, bin_keys, bin_table
from babellens.analyses.topk import merge_top_k, top_k_order

__all__ = ["LayerAccumulator", "UpdateMode", "Workspace"]

UpdateMode = Literal["sparse", "dense"]
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="babellens-bincount")
    return _POOL


def _scatter_count(indices: torch.Tensor, size: int) -> torch.Tensor:
    """Counts by ``index_add_``: unlike ``bincount`` on a GPU, it never reads the largest index
    back to the host, so the device queue keeps running."""
    ones = torch.ones(1, dtype=torch.long, device=indices.device).expand(indices.numel())
    return torch.zeros(size, dtype=torch.long, device=indices.device).index_add_(0, indices, ones)


def _bincount(indices: torch.Tensor, size: int) -> torch.Tensor:
    """Counts of a flat int tensor; on a CPU, ``bincount`` split over the intra-op threads."""
    if indices.device.type != "cpu":
        return _scatter_count(indices, size)
    parts = min(torch.get_num_threads(), 8)
    if parts <= 1 or indices.numel() < 1 << 18:
        return torch.bincount(indices, minlength=size)
    chunks = indices.chunk(parts)
    futures = [_pool().submit(torch.bincount, c, None, size) for c in chunks[1:]]
    total = torch.bincount(chunks[0], minlength=size)
    for future in futures:
        total += future.result()
    return total


class Workspace:
    """Scratch tensors reused from one hook call to the next.

    A fresh multi-megabyte tensor per call costs page faults every time on a CPU (about as much as
    the arithmetic); the layers of one scan run one after another, so they share one workspace.
    Not for concurrent use: each scan owns its own.
    """

    def __init__(self) -> None:
        self._tensors: dict[str, torch.Tensor] = {}

    def get(self, name: str, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = dtype or like.dtype
        t = self._tensors.get(name)
        if t is None or t.shape != like.shape or t.dtype != dtype or t.device != like.device:
            t = self._tensors[name] = torch.empty(like.shape, dtype=dtype, device=like.device)
        return t


_STATE_KEYS = (
    "top_values",
    "top_windows",
    "top_positions",
    "top_acts",
    "hist",
    "n_tokens",
    "act_sum",
    "act_max",
)


_COMPILED_STATE = ("hist", "act_sum", "top_values", "top_windows", "top_positions", "top_acts")


class LayerAccumulator:
    def __init__(
        self,
        d_mlp: int,
        k: int,
        window_len: int,
        device: torch.device | str = "cpu",
        workspace: Workspace | None = None,
        mode: UpdateMode | None = None,
        merge_every: int = 4,
        stats: StatsBackend | None = None,
    ) -> None:
        """``stats``: how the per-batch statistics are computed (default: the compiled one-pass
        fold on a CPU with sparse updates where numba is installed, tensor ops elsewhere)."""
        self.d_mlp, self.k, self.window_len = d_mlp, k, window_len
        dev = torch.device(device)
        self.mode: UpdateMode = mode or ("dense" if dev.type == "cuda" else "sparse")
        fused_ok = dev.type == "cpu" and self.mode == "sparse" and kernel_available()
        if stats == "kernel" and not fused_ok:
            raise ValueError("the compiled fold needs a CPU, sparse updates and numba")
        self.stats: StatsBackend = stats or ("kernel" if fused_ok else "torch")
        self.merge_every = merge_every
        self._queue: list[tuple[torch.Tensor, ...]] = []
        self.top_values = torch.full((d_mlp, k), float("-inf"), device=dev)
        self.top_windows = torch.full((d_mlp, k), -1, dtype=torch.long, device=dev)
        self.top_positions = torch.full((d_mlp, k), -1, dtype=torch.long, device=dev)
        self.top_acts = torch.zeros((d_mlp, k, window_len), dtype=torch.float16, device=dev)
        self.hist = torch.zeros((d_mlp, N_BINS), dtype=torch.long, device=dev)
        self.n_tokens = torch.zeros((), dtype=torch.long, device=dev)
        self.act_sum = torch.zeros(d_mlp, dtype=torch.float64, device=dev)
        self.act_max = torch.full((d_mlp,), float("-inf"), device=dev)
        self._bin_base = (bin_table() * d_mlp).to(dev)  # key -> bin × d_mlp (bin-major counts)
        self._neuron_ids = torch.arange(d_mlp, dtype=torch.int32, device=dev)
        self._workspace = workspace or Workspace()

    # ---- update -----------------------------------------------------------------------------
    def update(
        self,
        acts: torch.Tensor,
        mask: torch.Tensor,
        window_ids: torch.Tensor,
        n_pad: int | None = None,
    ) -> None:
        """``acts`` [batch, pos, d_mlp] of windows ``window_ids`` (ascending), ``mask`` [batch, pos].

        ``n_pad``, the number of padded positions, is counted from ``mask`` unless the caller
        knows it (from the host copy of the mask: no device synchronisation).
        """
        real = mask.bool()
        if n_pad is None:
            n_pad = int((~real).sum())
        full = n_pad == 0
        if self.stats == "kernel" and acts.dtype in kernel_dtypes():
            self._update_compiled(acts, real, window_ids, n_pad)
            return
        masked = acts if full else self._masked(acts, real)  # the model's dtype, -inf at padding
        batch_max = masked.amax(dim=1).float()  # [batch, d_mlp]; exact in any dtype
        self._update_stats(masked.view(-1, self.d_mlp), batch_max, n_pad)
        self.act_sum += torch.einsum("bp,bpn->n", real.float(), self._float(acts)).double()
        if self.mode == "dense":
            self._queue_batch(masked, real, full, batch_max, window_ids)
        else:
            self._update_sparse(masked, real, full, batch_max, window_ids)

    def _update_compiled(
        self, acts: torch.Tensor, real: torch.Tensor, window_ids: torch.Tensor, n_pad: int
    ) -> None:
        """The whole update in one compiled pass (see :mod:`fused_stats`)."""
        state = {key: getattr(self, key) for key in _COMPILED_STATE}
        batch_max, _ = fold_and_insert(acts, real, window_ids, state)
        self.n_tokens += real.numel() - n_pad
        self.act_max = torch.maximum(self.act_max, batch_max.amax(dim=0))

    def _float(self, acts: torch.Tensor) -> torch.Tensor:
        """float32 activations (a reused buffer when converting, so no fresh allocation)."""
        if acts.dtype == torch.float32:
            return acts
        return self._workspace.get("float", acts, torch.float32).copy_(acts)

    def _update_sparse(
        self,
        acts: torch.Tensor,
        real: torch.Tensor,
        full: bool,
        batch_max: torch.Tensor,
        window_ids: torch.Tensor,
    ) -> None:
        """``acts`` may hold anything at padded positions (they are masked here)."""
        # Only neurons whose best new window beats their weakest kept example can change.
        changed = (batch_max.amax(dim=0) > self.top_values.amin(dim=1)).nonzero().flatten()
        if changed.numel() == 0:
            return
        window_ids = window_ids.to(acts.device)
        values = batch_max[:, changed].T  # [changed, batch]
        windows = window_ids.expand(changed.numel(), -1)
        slot_rows, slots, cand_rows, cands = self._insertions(changed, values, windows)
        rows = changed[slot_rows]  # paired with changed[cand_rows]: the same neurons
        self.top_values[rows, slots] = values[cand_rows, cands]
        self.top_windows[rows, slots] = windows[cand_rows, cands]
        # [insertions, pos]: the windows that now fill (neuron, slot) pairs rows, slots
        new_acts = acts.permute(0, 2, 1)[cands, rows].float()
        if full:
            positions = new_acts.argmax(dim=1)
        else:
            padding = ~real[cands]
            positions = new_acts.masked_fill(padding, float("-inf")).argmax(dim=1)
            new_acts = new_acts.masked_fill(padding, 0.0)
        self._write_examples(rows, slots, new_acts, positions)

    def _write_examples(
        self,
        rows: torch.Tensor,
        slots: torch.Tensor,
        new_acts: torch.Tensor,
        positions: torch.Tensor,
    ) -> None:
        """A new window's argmax position and activations (padding 0) into (neuron, slot) pairs."""
        self.top_positions[rows, slots] = positions
        padded = torch.zeros(
            (new_acts.shape[0], self.window_len), dtype=torch.float16, device=new_acts.device
        )
        padded[:, : new_acts.shape[1]] = new_acts[:, : self.window_len]
        self.top_acts[rows, slots] = padded

    def _queue_batch(
        self,
        masked: torch.Tensor,
        real: torch.Tensor,
        full: bool,
        batch_max: torch.Tensor,
        window_ids: torch.Tensor,
    ) -> None:
        """Queue every window of the batch as a candidate of every neuron; merge every few batches."""
        positions = masked.argmax(dim=1)  # [batch, d_mlp]
        stored = masked if full else masked.masked_fill(~real.unsqueeze(-1), 0.0)
        acts = torch.zeros(
            (self.d_mlp, masked.shape[0], self.window_len),
            dtype=torch.float16,
            device=masked.device,
        )
        width = min(masked.shape[1], self.window_len)
        acts[:, :, :width] = stored[:, :width].permute(2, 0, 1)
        windows = window_ids.to(masked.device).expand(self.d_mlp, -1)
        self._queue.append((batch_max.T, windows, positions.T, acts))
        if len(self._queue) >= self.merge_every:
            self.flush()

    def flush(self) -> None:
        """Merge the queued candidates into the kept examples (dense mode; a no-op otherwise)."""
        if not self._queue:
            return
        values, windows, positions, acts = (
            torch.cat(parts, dim=1) for parts in zip(*self._queue, strict=True)
        )
        self._queue.clear()
        self.top_values, self.top_windows, self.top_positions, self.top_acts = merge_top_k(
            self.k,
            torch.cat([self.top_values, values], dim=1),
            torch.cat([self.top_windows, windows], dim=1),
            torch.cat([self.top_positions, positions], dim=1),
            torch.cat([self.top_acts, acts], dim=1),
        )

    def _insertions(
        self, rows: torch.Tensor, values: torch.Tensor, windows: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Which kept slots of ``rows`` are evicted, and which candidates take them.

        Order is value descending, then window ascending; the kept slots are unordered, so only
        the evicted ones are rewritten. Returns (slot row, slot, candidate row, candidate), paired.
        """
        all_values = torch.cat([self.top_values[rows], values], dim=1)
        all_windows = torch.cat([self.top_windows[rows], windows], dim=1)
        order = top_k_order(all_values, all_windows)
        keep = torch.zeros_like(all_values, dtype=torch.bool).scatter_(1, order[:, : self.k], True)
        slot_rows, slots = (~keep[:, : self.k]).nonzero(as_tuple=True)
        cand_rows, cands = keep[:, self.k :].nonzero(as_tuple=True)
        return slot_rows, slots, cand_rows, cands

    def _write(
        self,
        rows: torch.Tensor,
        slots: torch.Tensor,
        values: torch.Tensor,
        windows: torch.Tensor,
        positions: torch.Tensor,
        acts: torch.Tensor,
    ) -> None:
        """Whole examples (from another accumulator's kept ones) into (neuron, slot) pairs."""
        self.top_values[rows, slots] = values
        self.top_windows[rows, slots] = windows
        self.top_positions[rows, slots] = positions
        self.top_acts[rows, slots] = acts

    def _masked(self, acts: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``acts`` with padded positions at -inf, written into a reused buffer."""
        neg_inf = torch.tensor(float("-inf"), dtype=acts.dtype, device=acts.device)
        return torch.where(
            real.unsqueeze(-1), acts, neg_inf, out=self._workspace.get("masked", acts)
        )

    def _update_stats(self, flat: torch.Tensor, batch_max: torch.Tensor, n_pad: int) -> None:
        """Statistics of ``flat`` [tokens, d_mlp], whose ``n_pad`` padded rows hold -inf.

        -inf lands in the lowest histogram bin and is taken back out below, so no boolean-mask
        copy of the activations is needed. (The sum is taken in ``update``, weighted by the mask.)
        """
        self.n_tokens += flat.shape[0] - n_pad
        self.act_max = torch.maximum(self.act_max, batch_max.amax(dim=0))
        ws = self._workspace
        keys = bin_keys(flat, out=ws.get("key", flat, torch.int32))
        index = torch.index_select(
            self._bin_base, 0, keys.view(-1), out=ws.get("bins", flat, torch.int32).view(-1)
        ).view(keys.shape)
        index.add_(self._neuron_ids)
        counts = _bincount(index.view(-1), self.d_mlp * N_BINS).view(N_BINS, self.d_mlp)
        self.hist += counts.T
        if n_pad:
            self.hist[:, 0] -= n_pad

    def merge(self, other: LayerAccumulator) -> None:
        """Fold in an accumulator of windows that all come after this one's (exact)."""
        self.flush()
        other.flush()
        self.n_tokens += other.n_tokens
        self.act_sum += other.act_sum
        self.act_max = torch.maximum(self.act_max, other.act_max)
        self.hist += other.hist
        rows = torch.arange(self.d_mlp, device=self.top_values.device)
        slot_rows, slots, cand_rows, cands = self._insertions(
            rows, other.top_values, other.top_windows
        )
        self._write(
            slot_rows,
            slots,
            other.top_values[cand_rows, cands],
            other.top_windows[cand_rows, cands],
            other.top_positions[cand_rows, cands],
            other.top_acts[cand_rows, cands],
        )

    # ---- state ------------------------------------------------------------------------------
    def canonical_order(self) -> torch.Tensor:
        """``[d_mlp, k]`` slot order: value descending, then window ascending (empty slots last)."""
        return top_k_order(self.top_values, self.top_windows)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """CPU copies; the top-k arrays in canonical order, so equal scans give equal states."""
        self.flush()
        order = self.canonical_order()
        state = {key: getattr(self, key).detach().to("cpu", copy=True) for key in _STATE_KEYS}
        cpu_order = order.cpu()
        for key in ("top_values", "top_windows", "top_positions"):
            state[key] = state[key].gather(1, cpu_order)
        state["top_acts"] = state["top_acts"].gather(
            1, cpu_order.unsqueeze(-1).expand(-1, -1, self.window_len)
        )
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._queue.clear()
        for key in _STATE_KEYS:
            current = getattr(self, key)
            setattr(self, key, state[key].to(current.device, current.dtype).clone())

    @property
    def n_positive(self) -> torch.Tensor:
        """Activations above zero per neuron, read off the histogram."""
        return self.hist[:, POSITIVE_FROM:].sum(dim=1)

    @property
    def density(self) -> torch.Tensor:
        return self.n_positive.double() / self.n_tokens.clamp_min(1)

    @property
    def mean(self) -> torch.Tensor:
        return self.act_sum / self.n_tokens.clamp_min(1)
