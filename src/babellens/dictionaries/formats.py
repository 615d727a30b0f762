"""Other libraries' dictionary layouts: SAELens and sparsify (read and write); Gemma Scope is
read by :mod:`babellens.dictionaries.gemmascope`.

Each reader turns the library's conventions into ours exactly, folding them into the weights:
SAELens's ``apply_b_dec_to_input`` and sparsify's ``x - b_dec`` before the encoder become a
shifted ``b_enc``; SAELens's ``rescale_acts_by_decoder_norm`` becomes rescaled encoder columns
and unit decoder rows; ``nn.Linear`` and ``[d_out, d_in]`` skip weights are transposed. Writers do
the reverse with the conventions switched off, so a reader of that library computes the same
features. Hook point names are translated where the mapping is clear (TransformerLens names,
Hugging Face module paths), else given by the caller.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from babellens.dictionaries.model import SparseDictionary
from babellens.dictionaries.native import load_native
from babellens.errors import InvalidInputError

__all__ = ["FORMATS", "detect_format", "export_dictionaries", "import_dictionaries"]

FORMATS = ("babellens", "saelens", "sparsify", "gemmascope")

# TransformerLens hook names <-> ours. ``mlp_in`` is the MLP's input after its norm, TL's
# ``ln2.hook_normalized`` (what transcoders read); TL's ``hook_mlp_in`` is the residual stream
# before that norm, which has no hook point here, so a file naming it needs ``--hook``.
_TL_HOOKS = {
    "hook_resid_pre": "resid_pre",
    "hook_resid_post": "resid_post",
    "hook_mlp_out": "mlp_out",
    "hook_attn_out": "attn_out",
    "ln2.hook_normalized": "mlp_in",
}
_SPARSIFY_SAE_HOOKS = {"": "resid_post", "mlp": "mlp_out", "self_attn": "attn_out"}


def _from_tl_name(name: str | None) -> str | None:
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", name or "")
    if match and match.group(2) in _TL_HOOKS:
        return f"{_TL_HOOKS[match.group(2)]}.{match.group(1)}"
    return name if name and re.fullmatch(r"[a-z_]+\.\d+", name) else None


def _to_tl_name(hook: str) -> str:
    kind, _, layer = hook.rpartition(".")
    tl = {v: k for k, v in _TL_HOOKS.items()}.get(kind)
    return f"blocks.{layer}.{tl}" if tl else hook


def detect_format(path: Path) -> str:
    if path.is_file():
        if path.suffix == ".safetensors":
            return "babellens"
        if path.name.startswith("params"):
            return "gemmascope"
    elif path.is_dir():
        if (path / "sae_weights.safetensors").exists():
            return "saelens"
        if (path / "sae.safetensors").exists() or any(path.glob("*/sae.safetensors")):
            return "sparsify"
        if any(path.glob("params.*")):
            return "gemmascope"
        if any(path.glob("*.safetensors")):
            return "babellens"
    raise InvalidInputError(
        f"{path} is not a dictionary: expected a BabelLens .safetensors file, a SAELens folder "
        "(cfg.json + sae_weights.safetensors), a sparsify folder (cfg.json + sae.safetensors) "
        "or Gemma Scope params.npz / params.safetensors"
    )


def import_dictionaries(
    path: Path, fmt: str = "auto", hook: str | None = None
) -> tuple[list[SparseDictionary], dict[str, Any]]:
    """The dictionaries stored at ``path`` and what their files say about them."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "babellens":
        files = [path] if path.is_file() else sorted(path.glob("*.safetensors"))
        loaded = [load_native(f) for f in files]
        return [sd for sd, _ in loaded], {"format": fmt, **loaded[0][1]}
    if fmt == "saelens":
        sd, meta = _read_saelens(path, hook)
        return [sd], meta
    if fmt == "sparsify":
        folders = (
            [path]
            if (path / "sae.safetensors").exists()
            else sorted(p.parent for p in path.glob("*/sae.safetensors"))
        )
        members = [_read_sparsify(f, hook if len(folders) == 1 else None) for f in folders]
        return _sorted_by_layer(members), {"format": fmt, "path": str(path)}
    if fmt == "gemmascope":
        from babellens.dictionaries.gemmascope import read_gemmascope

        return [read_gemmascope(path, hook)], {"format": fmt, "path": str(path)}
    raise InvalidInputError(f"unknown format {fmt!r}: use one of auto, {', '.join(FORMATS)}")


def _sorted_by_layer(members: list[SparseDictionary]) -> list[SparseDictionary]:
    def layer(sd: SparseDictionary) -> int:
        tail = sd.hook_in.rpartition(".")[2]
        return int(tail) if tail.isdigit() else 0

    return sorted(members, key=layer)


def _need_hook(found: str | None, given: str | None, path: Path) -> str:
    hook = given or found
    if hook is None:
        raise InvalidInputError(f"cannot tell which hook point {path} reads: pass --hook")
    return hook


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return {k: v.float() for k, v in load_file(str(path)).items()}
    except (SafetensorError, OSError) as exc:
        raise InvalidInputError(f"{path} is not a readable safetensors file: {exc}") from None


def build_dictionary(config: dict[str, Any], weights: dict[str, torch.Tensor]) -> SparseDictionary:
    sd = SparseDictionary.from_config(config)
    state = {**{k: torch.zeros_like(v) for k, v in sd.state_dict().items()}, **weights}
    try:
        sd.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()[:200]
        raise InvalidInputError(f"the weights do not fit the config: {first}") from None
    return sd


# ---- SAELens ------------------------------------------------------------------------------------
_SAELENS_ACTIVATION = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu"}
_SAELENS_TRANSCODERS = {
    "transcoder": ("relu", False),
    "skip_transcoder": ("relu", True),
    "jumprelu_transcoder": ("jumprelu", False),
    "jumprelu_skip_transcoder": ("jumprelu", True),
}


def _read_saelens(path: Path, hook: str | None) -> tuple[SparseDictionary, dict[str, Any]]:
    cfg = json.loads((path / "cfg.json").read_text())
    w = read_safetensors(path / "sae_weights.safetensors")
    arch = cfg.get("architecture", "standard")
    meta = cfg.get("metadata") or {}
    found = _from_tl_name(meta.get("hook_name") or cfg.get("hook_name"))
    if cfg.get("normalize_activations", "none") not in ("none", None):
        raise InvalidInputError(
            f"{path}: normalize_activations={cfg['normalize_activations']!r} is not supported; "
            "fold it into the weights with SAELens first"
        )
    if arch in _SAELENS_TRANSCODERS:
        activation, skip = _SAELENS_TRANSCODERS[arch]
        kind, d_out = "transcoder", int(cfg["d_out"])
        hook_in = _need_hook(found, hook, path)
        out_name = _from_tl_name(meta.get("hook_name_out") or cfg.get("hook_name_out"))
        hook_out = out_name or hook_in.replace("mlp_in", "mlp_out")
    elif arch in _SAELENS_ACTIVATION:
        activation, skip, kind = _SAELENS_ACTIVATION[arch], False, "sae"
        d_out = int(cfg["d_in"])
        hook_in = hook_out = _need_hook(found, hook, path)
    else:
        raise InvalidInputError(f"{path}: SAELens architecture {arch!r} is not supported")
    k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
    w_enc, b_enc, w_dec = w["W_enc"], w["b_enc"], w["W_dec"]
    if cfg.get("apply_b_dec_to_input", False) and kind == "sae":
        b_enc = b_enc - w["b_dec"] @ w_enc  # (x - b_dec) @ W + b == x @ W + (b - b_dec @ W)
    if arch == "topk" and cfg.get("rescale_acts_by_decoder_norm", False):
        norms = w_dec.norm(dim=1)  # top-k over pre·|d|, decoded with d/|d|: the same function
        w_enc, b_enc, w_dec = w_enc * norms, b_enc * norms, w_dec / norms[:, None]
    weights = {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w_dec, "b_dec": w["b_dec"]}
    if "threshold" in w:
        weights["threshold"] = w["threshold"]
    if skip:
        weights["W_skip"] = w["W_skip"].T
    config = {
        "kind": kind,
        "hook_in": hook_in,
        "hook_out": hook_out,
        "d_in": int(cfg["d_in"]),
        "d_out": d_out,
        "width": int(cfg["d_sae"]),
        "activation": activation,
        "k": int(k) if activation == "topk" else None,
        "skip": skip,
    }
    provenance = {"format": "saelens", "path": str(path), "model": meta.get("model_name")}
    return build_dictionary(config, weights), provenance


def _saelens_architecture(sd: SparseDictionary) -> tuple[str, str]:
    """(SAELens architecture name, the activation it computes): BatchTopK is stored for
    inference as JumpReLU with its learned threshold."""
    activation = "jumprelu" if sd.activation == "batchtopk" else sd.activation
    if sd.kind != "transcoder":
        return {"relu": "standard", "topk": "topk", "jumprelu": "jumprelu"}[activation], activation
    if activation == "topk":
        raise InvalidInputError("SAELens has no TopK transcoder: export it as sparsify")
    skip = sd.W_skip is not None
    if activation == "relu":
        return ("skip_transcoder" if skip else "transcoder"), activation
    return ("jumprelu_skip_transcoder" if skip else "jumprelu_transcoder"), activation


def _write_saelens(sd: SparseDictionary, out: Path, model: str) -> None:
    from safetensors.torch import save_file

    arch, activation = _saelens_architecture(sd)
    weights = {"W_enc": sd.W_enc, "b_enc": sd.b_enc, "W_dec": sd.W_dec, "b_dec": sd.b_dec}
    if activation == "jumprelu":
        weights["threshold"] = sd.threshold
    if sd.W_skip is not None:
        weights["W_skip"] = sd.W_skip.T
    cfg: dict[str, Any] = {
        "architecture": arch,
        "d_in": sd.d_in,
        "d_sae": sd.width,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": False,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            # the layout version this writer follows: without it SAELens reads the file as its
            # pre-6.0 format and drops the metadata (hook names included)
            "sae_lens_version": "6.0.0",
            "model_name": model,
            "hook_name": _to_tl_name(sd.hook_in),
            "babellens_hook_in": sd.hook_in,
            "babellens_hook_out": sd.hook_out,
        },
    }
    if sd.kind == "transcoder":
        cfg["d_out"] = sd.d_out
        cfg["metadata"]["hook_name_out"] = _to_tl_name(sd.hook_out)
    if activation == "topk":
        cfg["k"], cfg["rescale_acts_by_decoder_norm"] = sd.k, False
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().float() for k, v in weights.items()}
    save_file(tensors, str(out / "sae_weights.safetensors"))
    (out / "cfg.json").write_text(json.dumps(cfg, indent=2))


# ---- sparsify -----------------------------------------------------------------------------------
def _sparsify_hookpoint(sd: SparseDictionary) -> str:
    kind, _, layer = sd.hook_in.rpartition(".")
    if sd.kind == "transcoder":
        return f"layers.{layer}.mlp"
    module = {v: k for k, v in _SPARSIFY_SAE_HOOKS.items()}.get(kind)
    if module is None:
        return sd.hook_in
    return f"layers.{layer}" + (f".{module}" if module else "")


def _from_sparsify_hookpoint(name: str, transcode: bool) -> tuple[str, str] | None:
    match = re.fullmatch(r"(?:model\.)?layers\.(\d+)(?:\.(mlp|self_attn))?", name)
    if match is None:
        hook = _from_tl_name(name)
        return (hook, hook) if hook else None
    layer, module = match.group(1), match.group(2) or ""
    if transcode:
        return (f"mlp_in.{layer}", f"mlp_out.{layer}") if module == "mlp" else None
    hook = f"{_SPARSIFY_SAE_HOOKS[module]}.{layer}"
    return hook, hook


def _read_sparsify(folder: Path, hook: str | None) -> SparseDictionary:
    cfg = json.loads((folder / "cfg.json").read_text())
    w = read_safetensors(folder / "sae.safetensors")
    if cfg.get("activation", "topk") != "topk":
        raise InvalidInputError(
            f"{folder}: sparsify activation {cfg['activation']!r} is not supported"
        )
    transcode = bool(cfg.get("transcode", False))
    hooks = (hook, hook) if hook else _from_sparsify_hookpoint(folder.name, transcode)
    if hooks is None:
        raise InvalidInputError(f"cannot tell which hook point {folder} reads: pass --hook")
    w_enc, b_enc = w["encoder.weight"].T, w["encoder.bias"]
    if not transcode:
        b_enc = b_enc - w["b_dec"] @ w_enc
    d_in = int(cfg["d_in"])
    weights = {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w["W_dec"], "b_dec": w["b_dec"]}
    skip = "W_skip" in w
    if skip:
        weights["W_skip"] = w["W_skip"].T
    config = {
        "kind": "transcoder" if transcode else "sae",
        "hook_in": hooks[0],
        "hook_out": hooks[1],
        "d_in": d_in,
        "d_out": int(w["b_dec"].shape[0]),
        "width": int(w_enc.shape[1]),
        "activation": "topk",
        "k": int(cfg["k"]),
        "skip": skip,
    }
    return build_dictionary(config, weights)


def _write_sparsify(sd: SparseDictionary, out: Path) -> None:
    from safetensors.torch import save_file

    if sd.activation != "topk":
        raise InvalidInputError("sparsify reads TopK dictionaries only: export it as saelens")
    if sd.d_out != sd.d_in:
        raise InvalidInputError("sparsify needs d_out = d_in: export it as saelens")
    b_enc = sd.b_enc if sd.kind == "transcoder" else sd.b_enc + sd.b_dec @ sd.W_enc
    weights = {
        "encoder.weight": sd.W_enc.T,
        "encoder.bias": b_enc,
        "W_dec": sd.W_dec,
        "b_dec": sd.b_dec,
    }
    if sd.W_skip is not None:
        weights["W_skip"] = sd.W_skip.T
    cfg = {
        "activation": "topk",
        "expansion_factor": max(1, sd.width // sd.d_in),
        "normalize_decoder": True,
        "num_latents": sd.width,
        "k": sd.k,
        "multi_topk": False,
        "skip_connection": sd.W_skip is not None,
        "transcode": sd.kind == "transcoder",
        "d_in": sd.d_in,
    }
    folder = out / _sparsify_hookpoint(sd)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().float() for k, v in weights.items()}
    save_file(tensors, str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps(cfg))


def export_dictionaries(
    dictionaries: list[SparseDictionary], fmt: str, out: Path, model: str
) -> list[Path]:
    """Write every member in ``fmt`` under ``out``; returns the folders or files written."""
    from babellens.dictionaries.native import save_native

    out = Path(out).expanduser()
    written: list[Path] = []
    for sd in dictionaries:
        if fmt == "saelens":
            folder = out / sd.hook_in if len(dictionaries) > 1 else out
            _write_saelens(sd, folder, model)
            written.append(folder)
        elif fmt == "sparsify":
            _write_sparsify(sd, out)
            written.append(out / _sparsify_hookpoint(sd))
        elif fmt == "babellens":
            file = out / f"{sd.hook_in}.safetensors"
            save_native(sd, file, {"model": model})
            written.append(file)
        else:
            raise InvalidInputError(f"cannot export as {fmt!r}: use saelens, sparsify or babellens")
    return written
