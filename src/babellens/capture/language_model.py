"""A loaded model bound to its hooks: what :func:`babellens.load` returns and every analysis runs.

``models`` finds and reads a model (the Hugging Face module, its tokenizer, its architecture
adapter and the model math); this layer adds running it with captures and interventions. That
is why ``LanguageModel`` and ``load`` live here and not in ``models``: ``lm.run`` and
``lm.hooks`` need the hooks, and the hooks need the adapter, so the imports point one way
(models -> capture).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from babellens.capture.hook_points import kinds_at_layer
from babellens.capture.interventions import Intervention
from babellens.capture.reductions import Reduction
from babellens.capture.run import GradMode, RunResult, run_with_hooks
from babellens.capture.session import HookSession
from babellens.errors import InvalidInputError
from babellens.models.adapters.adapter import ModelAdapter
from babellens.models.loading import load_pretrained
from babellens.models.summary import ModelSummary
from babellens.models.token_text import token_pieces

__all__ = ["LanguageModel", "load"]


def load(
    spec: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
) -> LanguageModel:
    """Load any causal LM and bind its architecture adapter and hooks.

    ``spec``: a bundled alias (``smollm2-135m``, ``gemma3-270m``, ``qwen2.5-coder-0.5b``), a folder
    written by ``save_pretrained``, a ``.gguf`` file (dequantised once into a cached folder) or a
    hub id; see :func:`babellens.models.loading.load_pretrained` for ``device``, ``dtype``
    (float32 by default, ``"auto"`` for bfloat16 where the hardware has it),
    ``trust_remote_code`` (off unless the caller turns it on) and ``attn_implementation``.
    """
    model, tokenizer, name, source = load_pretrained(
        spec,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        attn_implementation=attn_implementation,
    )
    return LanguageModel(model, tokenizer, name=name, source=source)


class LanguageModel:
    """What :func:`babellens.load` returns. ``model`` and ``tokenizer`` are plain HF objects."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, *, name: str, source: str) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        self.adapter = ModelAdapter(model)
        if tokenizer is not None:
            tokenizer.padding_side = "right"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token

    def __repr__(self) -> str:
        a = self.adapter
        return (
            f"LanguageModel({self.name!r}, {a.spec.name}, layers={a.n_layers}, d_model={a.d_model})"
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    # ---- tokens ---------------------------------------------------------------------------
    def tokenize(
        self, texts: str | Sequence[str], *, max_length: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` (BOS added where the model uses one)."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if not batch or any(not t for t in batch):
            raise InvalidInputError("the text is empty: give at least one non-empty prompt")
        enc = self.tokenizer(
            batch,
            return_tensors="pt",
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """One readable string per token (what a per-token view shows); see :func:`token_pieces`."""
        return token_pieces(self.tokenizer, list(ids))

    # ---- running --------------------------------------------------------------------------
    def run(
        self,
        inputs: str | Sequence[str] | torch.Tensor | Mapping[str, torch.Tensor],
        *,
        capture: Iterable[str] = (),
        reduce: Reduction | Mapping[str, Reduction] | None = None,
        interventions: Iterable[Intervention] = (),
        logits: bool = False,
        final_hidden: bool = False,
        eager: bool = False,
        grad: GradMode = "inference",
    ) -> RunResult:
        """One forward pass, the one every analysis uses; see
        :func:`babellens.capture.run_with_hooks` for the options."""
        if isinstance(inputs, str) or (
            isinstance(inputs, Sequence) and not isinstance(inputs, torch.Tensor)
        ):
            inputs = self.tokenize(inputs)  # type: ignore[arg-type]
        if isinstance(inputs, torch.Tensor):
            input_ids, mask = inputs, None
        else:
            input_ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        return run_with_hooks(
            self,
            input_ids,
            mask,
            capture=capture,
            reduce=reduce,
            interventions=interventions,
            logits=logits,
            final_hidden=final_hidden,
            eager=eager,
            grad=grad,
        )

    def unembed(self, resid: torch.Tensor, *, normed: bool = False) -> torch.Tensor:
        """Residual stream ``[..., d_model]`` -> logits ``[..., vocab]``, as the model's head
        computes them; see :meth:`ModelAdapter.unembed`."""
        return self.adapter.unembed(resid, normed=normed)

    def hooks(
        self,
        *,
        capture: Iterable[str] = (),
        reduce: Reduction | Mapping[str, Reduction] | None = None,
        interventions: Iterable[Intervention] = (),
    ) -> HookSession:
        """Hooks that stay on for a ``with`` block, e.g. around ``lm.model.generate(...)``."""
        return HookSession(self.adapter, capture, reduce=reduce, interventions=interventions)

    # ---- facts ----------------------------------------------------------------------------
    def hook_point_names(self) -> list[str]:
        a = self.adapter
        return [
            f"{kind}.{layer}" for layer in range(a.n_layers) for kind in kinds_at_layer(a, layer)
        ]

    def summary(self) -> ModelSummary:
        a = self.adapter
        config = self.model.config
        return ModelSummary(
            name=self.name,
            source=self.source,
            architecture=a.spec.name,
            hf_class=type(self.model).__name__,
            model_type=str(getattr(config, "model_type", "")),
            n_layers=a.n_layers,
            d_model=a.d_model,
            d_mlp=a.d_mlp,
            n_heads=max(a.heads_per_layer),
            heads_per_layer=list(a.heads_per_layer) if a.uneven_heads else None,
            n_kv_heads=a.n_kv_heads,
            head_dim=a.head_dim,
            vocab_size=a.vocab_size,
            n_params=sum(p.numel() for p in {id(p): p for p in self.model.parameters()}.values()),
            gated_mlp=a.spec.gated,
            parallel_residual=a.parallel_residual,
            dtype=str(self.dtype).removeprefix("torch."),
            device=str(self.device),
            hook_points=self.hook_point_names(),
        )
