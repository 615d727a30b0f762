"""What a graph needs from a transcoder, and how a set of them (one per layer) is found.

The dictionaries package provides the real ``SparseDictionary``; graphs only rely on the members
named in :class:`TranscoderLike`, so any object with them (a test's random one, an import from
another library) can be traced through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from babellens.errors import InvalidInputError, NotFoundError

__all__ = [
    "TranscoderLike",
    "TranscoderSet",
    "check_transcoders",
    "load_transcoder_dir",
    "load_transcoders",
    "save_transcoder_dir",
]


@runtime_checkable
class TranscoderLike(Protocol):
    """A per-layer transcoder: reads ``mlp_in.L`` and writes ``mlp_out.L``."""

    kind: str
    hook_in: str
    hook_out: str
    d_in: int
    d_out: int
    width: int
    activation: str
    k: int | None
    W_enc: torch.Tensor
    b_enc: torch.Tensor
    W_dec: torch.Tensor
    b_dec: torch.Tensor
    threshold: torch.Tensor
    W_skip: torch.Tensor | None

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor: ...

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, f: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


TranscoderSet = dict[int, TranscoderLike]
"""Layer -> transcoder; a graph needs one for every layer of the model."""


def check_transcoders(transcoders: TranscoderSet, n_layers: int, d_model: int) -> None:
    """Refuse a set that leaves a layer out or reads the wrong place: the graph would be wrong."""
    missing = [layer for layer in range(n_layers) if layer not in transcoders]
    if missing:
        raise InvalidInputError(
            f"no transcoder for layer(s) {', '.join(map(str, missing))}: "
            f"an attribution graph needs one for every layer 0..{n_layers - 1}"
        )
    for layer, tc in sorted(transcoders.items()):
        if tc.hook_in != f"mlp_in.{layer}" or tc.hook_out != f"mlp_out.{layer}":
            raise InvalidInputError(
                f"the transcoder given for layer {layer} maps {tc.hook_in} -> {tc.hook_out}; "
                f"it must map mlp_in.{layer} -> mlp_out.{layer}"
            )
        if tc.d_in != d_model or tc.d_out != d_model:
            raise InvalidInputError(
                f"the transcoder of layer {layer} is {tc.d_in} -> {tc.d_out} wide but the model's "
                f"residual stream has {d_model} dimensions: it was trained for another model"
            )


def load_transcoders(spec: str) -> TranscoderSet:
    """The transcoder set in the folder ``spec`` (``layer_<L>.safetensors`` files).

    A stored dictionary set's id is resolved one layer up, by
    :func:`babellens.store.transcoder_sets.load_transcoder_set` (graphs do not read the store).
    """
    return load_transcoder_dir(spec)


def save_transcoder_dir(transcoders: TranscoderSet, path: str | Path) -> Path:
    """Write a set as ``layer_<L>.safetensors`` files (SparseDictionary parameter names)."""
    from safetensors.torch import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    for layer, tc in transcoders.items():
        tensors = {
            name: getattr(tc, name).detach().float().contiguous()
            for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold", "W_skip")
            if getattr(tc, name, None) is not None
        }
        meta = {"activation": str(tc.activation), "k": str(tc.k), "kind": str(tc.kind)}
        save_file(tensors, str(folder / f"layer_{layer}.safetensors"), metadata=meta)
    return folder


def load_transcoder_dir(path: str | Path) -> TranscoderSet:
    """Read ``layer_<L>.safetensors`` files (the SparseDictionary layout) from a folder.

    Stored dictionary sets are read through the store (``store/transcoder_sets.py``).
    """
    from safetensors import safe_open

    folder = Path(path)
    if not folder.is_dir():
        raise NotFoundError(f"transcoder folder {str(folder)!r} does not exist: give a directory")
    files = sorted(folder.glob("layer_*.safetensors"))
    if not files:
        raise NotFoundError(f"no layer_<L>.safetensors files in {str(folder)!r}")
    result: TranscoderSet = {}
    for file in files:
        layer = int(file.stem.removeprefix("layer_"))
        with safe_open(str(file), framework="pt") as handle:
            meta = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        result[layer] = _transcoder_from_tensors(layer, tensors, meta)
    return result


def _transcoder_from_tensors(
    layer: int, tensors: dict[str, torch.Tensor], meta: dict[str, str]
) -> TranscoderLike:
    from babellens.graphs._simple_transcoder import SimpleTranscoder

    needed = ("W_enc", "b_enc", "W_dec", "b_dec")
    absent = [name for name in needed if name not in tensors]
    if absent:
        raise InvalidInputError(
            f"the transcoder file of layer {layer} lacks {', '.join(absent)}: "
            "write it in the SparseDictionary layout"
        )
    k = meta.get("k")
    transcoder = SimpleTranscoder(
        W_enc=tensors["W_enc"],
        b_enc=tensors["b_enc"],
        W_dec=tensors["W_dec"],
        b_dec=tensors["b_dec"],
        threshold=tensors.get("threshold"),
        W_skip=tensors.get("W_skip"),
        layer=layer,
        activation=meta.get("activation", "relu"),
        k=int(k) if k not in (None, "", "None") else None,
    )
    return transcoder.requires_grad_(False)
