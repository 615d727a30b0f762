"""Next-token neurons: the congruence of each neuron's output weights with the unembedding.

``C = W_out · diag(γ) · W_U`` per layer, where ``γ`` is the final norm's effective per-dimension
scale (folded in by default, since every logit is computed through it; for LayerNorm models the
output rows are also centred, as the norm subtracts the mean). The per-token normalisation by the
residual's RMS is a positive scalar shared by all tokens, so it does not change any ranking and is
left out. Gemma-2's final logit soft-cap is monotonic and is left out too.

``C`` is ``d_mlp × vocab`` per layer (2 GB for Gemma 3); it is computed in vocabulary chunks that
keep only a running top and bottom ``n`` per neuron, so memory stays ``d_mlp × chunk``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import BaseModel, ConfigDict, Field

from babellens.analyses.token_filter import whole_word_mask
from babellens.capture.language_model import LanguageModel
from babellens.models.adapters.adapter import ModelAdapter
from babellens.models.norms import norm_affine
from babellens.models.precision import DtypeChoice

__all__ = [
    "NextTokenConfig",
    "NextTokenNeuron",
    "TokenScore",
    "congruence_extremes",
    "effective_output_weights",
    "next_token_neurons",
]


class NextTokenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layers: list[int] | None = Field(None, description="Layers (default: all)")
    top_tokens: int = Field(
        10, ge=1, le=100, description="Promoted and suppressed tokens kept per neuron"
    )
    chunk_size: int = Field(16384, ge=256, le=1 << 20, description="Vocabulary columns per matmul")
    fold_final_norm: bool = True
    dtype: DtypeChoice = Field(
        "auto",
        description="The model's dtype for a job (the congruence itself is computed in float32)",
    )


class TokenScore(BaseModel):
    token_id: int
    token: str
    score: float


class NextTokenNeuron(BaseModel):
    layer: int
    neuron: int
    score: float = Field(description="Congruence score: the neuron's maximum over the vocabulary")
    word_score: float = Field(
        description="Maximum over whole-word tokens only (the ranking's filter)"
    )
    word_token: TokenScore | None
    promoted: list[TokenScore]
    suppressed: list[TokenScore]


def final_norm_scale(adapter: ModelAdapter) -> tuple[torch.Tensor, bool]:
    """(γ [d_model] float32, centres): the final norm as the affine map it is at one position,
    read by :func:`babellens.models.norms.norm_affine` (the one norm-scale probe)."""
    affine = norm_affine(adapter.final_norm, adapter.d_model, torch.float32)
    return affine.gamma.to(adapter.w_u.device), affine.centres


def effective_output_weights(
    adapter: ModelAdapter, layer: int, fold_final_norm: bool = True
) -> torch.Tensor:
    """``[units, d_model]``: W_out with the final norm's scale (and centring) folded in. The units
    of a mixture-of-experts layer are its (expert, neuron) pairs, then its shared expert's neurons,
    as the scan numbers them (a per-token gate on the shared output, Qwen2-MoE's, scales a row's
    write but not its direction, so it is left out)."""
    if adapter.is_moe_layer(layer):
        w = adapter.w_out_experts(layer).float().reshape(-1, adapter.d_model)
        if adapter.has_shared_expert(layer):
            w = torch.cat([w, adapter.w_out_shared(layer).float()])
    else:
        w = adapter.w_out(layer).float()
    if not fold_final_norm:
        return w
    gamma, centres = final_norm_scale(adapter)
    if centres:
        w = w - w.mean(dim=1, keepdim=True)
    return w * gamma


def congruence_extremes(
    w_eff: torch.Tensor,
    w_u: torch.Tensor,
    n: int,
    chunk_size: int,
    word_mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Top and bottom ``n`` (values, token ids) of ``w_eff @ w_u`` per row, and the best word."""
    rows, vocab = w_eff.shape[0], w_u.shape[1]
    device = w_eff.device
    top_v = torch.full((rows, 0), float("-inf"), device=device)
    top_i = torch.zeros((rows, 0), dtype=torch.long, device=device)
    bot_v, bot_i = top_v.clone(), top_i.clone()
    word_v = torch.full((rows,), float("-inf"), device=device)
    word_i = torch.full((rows,), -1, dtype=torch.long, device=device)
    with torch.inference_mode():
        for start in range(0, vocab, chunk_size):
            block = w_eff @ w_u[:, start : start + chunk_size].float()
            ids = torch.arange(start, start + block.shape[1], device=device).expand(rows, -1)
            top_v, top_i = _keep(
                torch.cat([top_v, block], 1), torch.cat([top_i, ids], 1), n, largest=True
            )
            bot_v, bot_i = _keep(
                torch.cat([bot_v, block], 1), torch.cat([bot_i, ids], 1), n, largest=False
            )
            if word_mask is not None:
                masked = block.masked_fill(
                    ~word_mask[start : start + block.shape[1]].to(device), float("-inf")
                )
                best_v, best_j = masked.max(dim=1)
                better = best_v > word_v
                word_v = torch.where(better, best_v, word_v)
                word_i = torch.where(better, best_j + start, word_i)
    return {
        "top_values": top_v,
        "top_ids": top_i,
        "bottom_values": bot_v,
        "bottom_ids": bot_i,
        "word_values": word_v,
        "word_ids": word_i,
    }


def _keep(
    values: torch.Tensor, ids: torch.Tensor, n: int, *, largest: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    k = min(n, values.shape[1])
    best = values.topk(k, dim=1, largest=largest, sorted=True)
    return best.values, ids.gather(1, best.indices)


def next_token_neurons(
    lm: LanguageModel,
    config: NextTokenConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[NextTokenNeuron]:
    """Every neuron of the chosen layers with its promoted/suppressed tokens and scores."""
    config = config or NextTokenConfig()
    a = lm.adapter
    layers = config.layers if config.layers is not None else list(range(a.n_layers))
    for layer in layers:
        a.check_layer(layer)
    mask = whole_word_mask(lm.tokenizer, a.vocab_size)
    decode = _decoder(lm)
    results: list[NextTokenNeuron] = []
    for done, layer in enumerate(layers):
        ext = congruence_extremes(
            effective_output_weights(a, layer, config.fold_final_norm),
            a.w_u,
            config.top_tokens,
            config.chunk_size,
            mask,
        )
        results += _layer_records(layer, {k: v.cpu().tolist() for k, v in ext.items()}, decode)
        if progress is not None:
            progress(done + 1, len(layers))
    return results


def _layer_records(
    layer: int, ext: dict[str, list], decode: Callable[[int], str]
) -> list[NextTokenNeuron]:
    """One record per neuron of ``layer`` from its congruence extremes (as lists)."""

    def scores(values: list[float], ids: list[int]) -> list[TokenScore]:
        return [
            TokenScore(token_id=i, token=decode(i), score=v)
            for v, i in zip(values, ids, strict=True)
        ]

    records = []
    for neuron, wid in enumerate(ext["word_ids"]):
        word = ext["word_values"][neuron]
        records.append(
            NextTokenNeuron(
                layer=layer,
                neuron=neuron,
                score=ext["top_values"][neuron][0],
                word_score=word,
                word_token=TokenScore(token_id=wid, token=decode(wid), score=word)
                if wid >= 0
                else None,
                promoted=scores(ext["top_values"][neuron], ext["top_ids"][neuron]),
                suppressed=scores(ext["bottom_values"][neuron], ext["bottom_ids"][neuron]),
            )
        )
    return records


def _decoder(lm: LanguageModel) -> Callable[[int], str]:
    cache: dict[int, str] = {}

    def decode(token_id: int) -> str:
        if token_id not in cache:
            cache[token_id] = lm.tokenizer.decode([token_id])
        return cache[token_id]

    return decode
