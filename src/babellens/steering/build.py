"""Build a steering vector from contrast data: difference of means (CAA) or the first principal
component of the paired differences (as repeng trains control vectors).

Activations are read at ``resid_post.L`` (the output of block L, where the vector is later added):
at the last token (``last``), averaged over the text (``mean``, BOS excluded), or averaged over the
completion tokens only (``completion_mean``, for pairs with a shared prompt).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch

from babellens.capture.language_model import LanguageModel
from babellens.data.windows import uses_bos
from babellens.errors import InvalidInputError
from babellens.steering.contrast import ContrastSet
from babellens.steering.vector import SteeringVector, VectorInfo

__all__ = ["Method", "ReadMode", "build", "read_activations"]

Method = Literal["mean_diff", "pca"]
ReadMode = Literal["last", "mean", "completion_mean"]


def join(prompt: str, completion: str) -> str:
    """A prompt and its completion as one text (a space between them unless the prompt ends in one)."""
    if not prompt or prompt[-1].isspace():
        return prompt + completion
    return f"{prompt} {completion}"


def _weights(
    lm: LanguageModel, mask: torch.Tensor, starts: Sequence[int], read: ReadMode
) -> torch.Tensor:
    """[batch, pos] weights that turn a [batch, pos, d] activation into one vector per text."""
    lengths = mask.sum(1)
    positions = torch.arange(mask.shape[1]).unsqueeze(0)
    if read == "last":
        return (positions == (lengths - 1).unsqueeze(1)).float()
    start = torch.as_tensor(list(starts)).unsqueeze(1)
    keep = (positions >= start) & (positions < lengths.unsqueeze(1))
    counts = keep.sum(1, keepdim=True)
    if (counts == 0).any():
        raise InvalidInputError(
            "a contrast text has no tokens to read after its prompt: give non-empty completions"
        )
    return keep.float() / counts


def read_activations(
    lm: LanguageModel,
    texts: Sequence[str],
    prompts: Sequence[str] | None,
    layers: Sequence[int],
    read: ReadMode,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, torch.Tensor]:
    """``{layer: [n_texts, d_model]}``: one read-out vector per text and layer."""
    bos = int(uses_bos(lm.tokenizer))
    points = [f"resid_post.{layer}" for layer in layers]
    out: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        if read == "completion_mean":
            assert prompts is not None
            starts = [
                len(lm.tokenizer(p)["input_ids"]) for p in prompts[start : start + batch_size]
            ]
        else:
            starts = [bos] * len(chunk)
        enc = lm.tokenize(chunk)
        weights = _weights(lm, enc["attention_mask"], starts, read).to(lm.device)
        acts = lm.run(enc, capture=points)
        for layer, point in zip(layers, points, strict=True):
            out[layer].append(torch.einsum("bp,bpd->bd", weights, acts[point].float()).cpu())
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    return {layer: torch.cat(chunks) for layer, chunks in out.items()}


def _pca_direction(diffs: torch.Tensor) -> torch.Tensor:
    """First principal component of the (centred) differences, signed and scaled so that it points
    the way the mean difference does and has the mean difference's projection as its length."""
    centred = diffs - diffs.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    direction = v[0]
    projection = diffs.mean(0) @ direction
    if projection < 0:
        direction, projection = -direction, -projection
    return direction * projection


def _check(
    lm: LanguageModel, contrast: ContrastSet, layers: Sequence[int], method: Method, read: ReadMode
) -> list[int]:
    """The sorted, checked layers; every combination the methods cannot serve is a user error."""
    contrast.check()
    checked = sorted({lm.adapter.check_layer(layer) for layer in layers})
    if not checked:
        raise InvalidInputError("give at least one layer to build the vector at")
    if method == "pca" and not contrast.paired:
        raise InvalidInputError(
            "the pca method needs paired contrast data (positive and negative of the same example)"
        )
    if read == "completion_mean" and not (
        contrast.paired and all(p.prompt for p in contrast.pairs)
    ):
        raise InvalidInputError("read=completion_mean needs pairs with a prompt; use last or mean")
    return checked


def _directions(
    layers: Sequence[int],
    pos: dict[int, torch.Tensor],
    neg: dict[int, torch.Tensor],
    paired: bool,
    method: Method,
) -> tuple[dict[int, torch.Tensor], dict[int, float]]:
    """Positive minus negative per layer, and (paired) how well the pairs' differences agree."""
    directions, cosines = {}, {}
    for layer in layers:
        if paired:
            diffs = pos[layer] - neg[layer]
            vector = diffs.mean(0) if method == "mean_diff" else _pca_direction(diffs)
            cosines[layer] = float(
                torch.nn.functional.cosine_similarity(diffs, vector.unsqueeze(0), dim=1).mean()
            )
        else:
            vector = pos[layer].mean(0) - neg[layer].mean(0)
        directions[layer] = vector
    return directions, cosines


def build(
    lm: LanguageModel,
    contrast: ContrastSet,
    layers: Sequence[int],
    *,
    method: Method = "mean_diff",
    read: ReadMode = "last",
    batch_size: int = 16,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SteeringVector:
    """One direction per layer from ``contrast``: positive minus negative."""
    layers = _check(lm, contrast, layers, method, read)
    if contrast.paired:
        positives = [join(p.prompt, p.positive) for p in contrast.pairs]
        negatives = [join(p.prompt, p.negative) for p in contrast.pairs]
        prompts = [p.prompt for p in contrast.pairs]
    else:
        positives, negatives, prompts = contrast.positives, contrast.negatives, None
    total = len(positives) + len(negatives)

    def report(offset: int) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, _n: progress(offset + done, total))

    with torch.inference_mode():
        pos = read_activations(lm, positives, prompts, layers, read, batch_size, report(0))
        neg = read_activations(
            lm, negatives, prompts, layers, read, batch_size, report(len(positives))
        )
    directions, cosines = _directions(layers, pos, neg, contrast.paired, method)
    info = VectorInfo(
        name=name or contrast.name,
        model=lm.name,
        method=method,
        read=read,
        layers=layers,
        d_model=lm.adapter.d_model,
        data=contrast.name,
        n_examples=len(contrast),
        norms={layer: float(v.norm()) for layer, v in directions.items()},
        diff_cosine=cosines,
    )
    return SteeringVector(info=info, directions=directions)
