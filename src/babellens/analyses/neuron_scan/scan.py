"""Stream windows through the model once, folding every layer's neurons into accumulators.

The accumulators update inside the ``mlp_post`` hooks on the model's device; nothing else leaves
the forward pass, which stops after the last scanned layer and never computes logits. The scan
state (accumulators plus the number of windows done) is a flat dict of tensors, saved at batch
boundaries, so a resumed scan replays exactly the same batches and ends with exactly the result
of an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field

from babellens.analyses.neuron_scan.accumulator import LayerAccumulator, UpdateMode, Workspace
from babellens.analyses.neuron_scan.experts import ExpertLayerAccumulator
from babellens.analyses.neuron_scan.fused_stats import StatsBackend
from babellens.capture.language_model import LanguageModel
from babellens.control import LocalControl, RunControl, StopRequested
from babellens.data.batching import resolve_pad_id
from babellens.data.windows import Window, WindowBatch, batches
from babellens.errors import InvalidInputError
from babellens.models.precision import DtypeChoice

__all__ = ["NeuronScan", "ScanConfig", "device_tokens_per_batch"]


class ScanConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corpus: str = Field("babel-mini", description="Bundled corpus name, file, folder or hf:NAME")
    split: str = Field("train", description="train, test or all")
    layers: list[int] | None = Field(None, description="Layers to scan (default: all)")
    k: int = Field(20, ge=1, le=1000, description="Top examples kept per neuron")
    window_len: int = Field(128, ge=2, le=8192)
    tokens_per_batch: int = Field(2048, ge=2, le=1_000_000, description="Tokens per forward pass")
    max_tokens: int | None = Field(None, ge=1, description="Stop after this many corpus tokens")
    checkpoint_every_s: float = Field(
        60.0, ge=0, description="Seconds between saved partial states"
    )
    dtype: DtypeChoice = Field(
        "auto",
        description="The model's dtype for a scan job (auto: bfloat16 where the hardware has fast "
        "bfloat16). The statistics are float32/float64 whatever it is.",
    )


class NeuronScan:
    def __init__(
        self,
        lm: LanguageModel,
        windows: Sequence[Window],
        config: ScanConfig,
        *,
        update_mode: UpdateMode | None = None,
        stats: StatsBackend | None = None,
    ) -> None:
        """``update_mode``: sparse or dense top-k updates (default: dense on a GPU); ``stats``: the
        compiled one-pass fold or tensor ops for the statistics (default: the fold where it
        runs). The same result either way."""
        adapter = lm.adapter
        self.layers = (
            sorted(set(config.layers))
            if config.layers is not None
            else list(range(adapter.n_layers))
        )
        if not self.layers:
            raise InvalidInputError("no layers to scan")
        for layer in self.layers:
            adapter.check_layer(layer)
        if not windows:
            raise InvalidInputError("the corpus produced no tokens to scan")
        self.lm, self.windows, self.config = lm, windows, config
        workspace = Workspace()  # the layers run one after another: they share scratch tensors
        self.accumulators: dict[int, LayerAccumulator | ExpertLayerAccumulator] = {}
        for layer in self.layers:
            if adapter.is_moe_layer(layer):  # (expert, neuron) units, each where routed
                self.accumulators[layer] = ExpertLayerAccumulator(
                    adapter.n_experts,
                    adapter.d_expert,
                    config.k,
                    config.window_len,
                    lm.device,
                    stats=stats,
                    d_shared=adapter.d_shared(layer) if adapter.has_shared_expert(layer) else 0,
                )
            else:
                self.accumulators[layer] = LayerAccumulator(
                    adapter.d_mlp,
                    config.k,
                    config.window_len,
                    lm.device,
                    workspace,
                    update_mode,
                    stats=stats,
                )
        self.windows_done = 0
        self._current_ids = torch.empty(0, dtype=torch.long)
        self._current_pad = 0
        self._reduce = self._hooks()
        self._tokens_before = [0]
        for w in windows:
            self._tokens_before.append(self._tokens_before[-1] + w.n_tokens)

    @property
    def total_tokens(self) -> int:
        return self._tokens_before[-1]

    @property
    def tokens_done(self) -> int:
        return self._tokens_before[self.windows_done]

    @property
    def finished(self) -> bool:
        return self.windows_done >= len(self.windows)

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"windows_done": torch.tensor(self.windows_done)}
        for layer, acc in self.accumulators.items():
            state.update({f"{layer}.{k}": v for k, v in acc.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for layer, acc in self.accumulators.items():
            prefix = f"{layer}."
            acc.load_state_dict(
                {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            )
        self.windows_done = int(state["windows_done"])

    # ---- run --------------------------------------------------------------------------------
    def _hooks(self) -> dict[str, Callable[[torch.Tensor, torch.Tensor | None], None]]:
        def reducer(
            update: Callable[..., None],
        ) -> Callable[[torch.Tensor, torch.Tensor | None], None]:
            def fold(x: torch.Tensor, mask: torch.Tensor | None) -> None:
                mask = mask if mask is not None else torch.ones(x.shape[:2], device=x.device)
                update(x, mask, self._current_ids, n_pad=self._current_pad)

            return fold

        hooks = {}
        for layer, acc in self.accumulators.items():
            if not isinstance(acc, ExpertLayerAccumulator):
                hooks[f"mlp_post.{layer}"] = reducer(acc.update)
                continue
            hooks[f"expert_post.{layer}"] = reducer(acc.update)
            if acc.shared is not None:  # the shared expert's neurons: every token, as an MLP's
                hooks[f"shared_post.{layer}"] = reducer(acc.update_shared)
        return hooks

    def step(self, batch: WindowBatch) -> None:
        """Fold one batch (the next windows in order) into the accumulators."""
        ids = batch.indices
        if self.lm.device.type == "cuda":  # a pinned, non-blocking copy: no wait for the device
            ids = ids.pin_memory().to(self.lm.device, non_blocking=True)
        self._current_ids = ids
        self._current_pad = int((batch.attention_mask == 0).sum())  # host copy: no device sync
        self.lm.run(
            {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask},
            capture=list(self._reduce),
            reduce=self._reduce,
        )
        self.windows_done = int(batch.indices[-1]) + 1

    def batches(self) -> Iterator[WindowBatch]:
        """The remaining batches, from ``windows_done`` (the same boundaries on every resume)."""
        return batches(
            self.windows,
            tokens_per_batch=self.config.tokens_per_batch,
            pad_id=resolve_pad_id(self.lm.tokenizer),
            start=self.windows_done,
        )

    def run(self, control: RunControl | None = None) -> bool:
        """Scan from ``windows_done`` on, under ``control``: progress in tokens, the stop polled
        between batches, the state saved every ``checkpoint_every_s`` and when stopped. Starts
        from the control's checkpoint when it has one. Returns True when finished; raises
        :class:`StopRequested` (state saved) when the control asked it to stop."""
        control = control or LocalControl()
        saved = control.load_state()
        if saved is not None:
            self.load_state_dict(saved.tensors)
        last_save = time.monotonic()
        for batch in self.batches():
            if control.should_stop():
                self.save_to(control)
                raise StopRequested
            self.step(batch)
            control.progress(self.tokens_done, self.total_tokens, "tokens")
            if time.monotonic() - last_save >= self.config.checkpoint_every_s:
                self.save_to(control)
                last_save = time.monotonic()
        for acc in self.accumulators.values():
            acc.flush()  # dense mode queues candidates: the finished scan holds them all
        return True

    def save_to(self, control: RunControl) -> None:
        """The scan's state as the control's checkpoint (its tensors; the kind in the metadata)."""
        control.save_state(self.state_dict(), {"kind": "scan"}, self.tokens_done)


def device_tokens_per_batch(lm: LanguageModel, window_len: int = 128, cap: int = 65536) -> int:
    """A token budget per batch for ``lm``'s device: 2048 on a CPU (larger batches gain nothing
    there), and on a GPU as many tokens as a sixteenth of its memory holds at about 24 bytes per
    neuron and token (activations in flight, the queued candidates and the histogram indices),
    a whole number of windows, at most ``cap``. It depends only on the device, so a resumed scan
    cuts the same batches."""
    if lm.device.type != "cuda":
        return 2048
    total = torch.cuda.get_device_properties(lm.device).total_memory
    tokens = int(total / 16 / (24 * lm.adapter.d_mlp))
    return max(window_len, min(cap, tokens) // window_len * window_len)
