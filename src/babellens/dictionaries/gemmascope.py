"""Gemma Scope's layout (``params.npz`` or safetensors with W_enc, W_dec, b_enc, b_dec, threshold):
JumpReLU dictionaries that do not name their hook point, so the caller gives it."""

from __future__ import annotations

from pathlib import Path

import torch

from babellens.dictionaries.formats import build_dictionary, read_safetensors
from babellens.dictionaries.model import SparseDictionary
from babellens.errors import InvalidInputError

__all__ = ["read_gemmascope"]


def read_gemmascope(path: Path, hook: str | None) -> SparseDictionary:
    file = path if path.is_file() else next(iter(sorted(path.glob("params.*"))))
    if file.suffix == ".npz":
        import numpy as np

        with np.load(file) as data:
            raw = {k: torch.from_numpy(data[k]).float() for k in data.files}
    else:
        raw = read_safetensors(file)
    w = {k.lower(): v for k, v in raw.items()}
    missing = {"w_enc", "w_dec", "b_enc", "b_dec", "threshold"} - set(w)
    if missing:
        raise InvalidInputError(
            f"{file} is not a Gemma Scope file: no {', '.join(sorted(missing))}"
        )
    if hook is None:
        raise InvalidInputError(
            f"Gemma Scope files do not name their hook point: pass --hook for {file}"
        )
    d_in, width = w["w_enc"].shape
    d_out = w["w_dec"].shape[1]
    kind = "sae" if d_out == d_in and not hook.startswith("mlp_in") else "transcoder"
    hook_out = hook.replace("mlp_in", "mlp_out") if kind == "transcoder" else hook
    skip = "w_skip" in w
    weights = {
        "W_enc": w["w_enc"],
        "b_enc": w["b_enc"],
        "W_dec": w["w_dec"],
        "b_dec": w["b_dec"],
        "threshold": w["threshold"],
    }
    if skip:
        weights["W_skip"] = w["w_skip"]
    config = {
        "kind": kind,
        "hook_in": hook,
        "hook_out": hook_out,
        "d_in": int(d_in),
        "d_out": int(d_out),
        "width": int(width),
        "activation": "jumprelu",
        "k": None,
        "skip": skip,
    }
    return build_dictionary(config, weights)
