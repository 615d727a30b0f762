"""Dequantise a GGUF once into a safetensors folder so later loads take seconds, not a minute.

``transformers`` refuses ``save_pretrained`` on a GGUF-loaded model (it counts as quantised), so
the folder is written by hand: the config without its quantisation entry, the tokenizer, and one
``model.safetensors`` holding each shared (tied) tensor once under its first name, which is the
name ``from_pretrained`` loads before it re-ties. The folder is then reloaded and checked against
the in-memory model on a probe input before it replaces anything.

The float32 folder is the reference. Other dtypes get their own folder next to it, cast from the
float32 one (seconds, not a second dequantisation) and checked tensor by tensor against the cast
of the reference, so a bfloat16 load reads half the bytes and needs no float32 copy in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import torch

from babellens.errors import CorruptModelFileError
from babellens.models.precision import dtype_name
from babellens.paths import converted_dir

__all__ = ["cast_converted", "convert_gguf", "converted_folder_for", "is_converted", "load_gguf"]

_MARKER = "babellens-converted.json"


def converted_folder_for(
    gguf: Path, key: str | None = None, dtype: torch.dtype = torch.float32
) -> Path:
    """Cache folder for a GGUF: keyed by bundled alias, or by path, size and mtime of the file.

    The float32 folder keeps its historical name (existing caches stay valid); any other dtype
    adds its name as a suffix, e.g. ``smollm2-135m-bfloat16``.
    """
    if key is None:
        stat = gguf.stat()
        ident = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
        key = f"{gguf.stem}-{hashlib.sha256(ident).hexdigest()[:12]}"
    if dtype != torch.float32:
        key = f"{key}-{dtype_name(dtype)}"
    return converted_dir() / key


def is_converted(folder: Path) -> bool:
    return (folder / _MARKER).is_file()


def _unique_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    seen: set[int] = set()
    state: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        ptr = tensor.untyped_storage().data_ptr()
        if ptr in seen:
            continue
        seen.add(ptr)
        state[name] = tensor.contiguous()
    return state


def load_gguf(gguf: Path, dtype: torch.dtype = torch.float32):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=dtype
        )
    except (ValueError, OSError, KeyError, IndexError, struct.error) as exc:
        raise CorruptModelFileError(
            f"{gguf} could not be read as a GGUF model ({type(exc).__name__}: {str(exc)[:120]}); "
            "the file may be truncated or corrupt: download it again"
        ) from exc
    return model, tokenizer


def convert_gguf(gguf: Path, folder: Path) -> Path:
    """Write ``folder`` (config, tokenizer, model.safetensors) from ``gguf``; return ``folder``."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    model, tokenizer = load_gguf(gguf)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(model).__name__]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        save_file(
            _unique_state_dict(model), str(staging / "model.safetensors"), metadata={"format": "pt"}
        )
        reloaded = AutoModelForCausalLM.from_pretrained(str(staging), dtype=torch.float32)
        _check_same_outputs(model, reloaded)
        (staging / _MARKER).write_text(
            json.dumps({"source": str(gguf), "size": gguf.stat().st_size})
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def cast_converted(reference: Path, folder: Path, dtype: torch.dtype) -> Path:
    """Write ``folder``: the converted float32 ``reference`` folder with its weights in ``dtype``."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(reference), dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(reference))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        model.config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        state = _unique_state_dict(model)
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        with safe_open(str(reference / "model.safetensors"), framework="pt") as ref:
            for name in ref.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if name in state and not torch.equal(state[name], ref.get_tensor(name).to(dtype)):
                    raise CorruptModelFileError(
                        f"the {dtype_name(dtype)} copy of {reference.name} differs from its "
                        f"float32 weights at {name}: delete {folder} and load again"
                    )
        (staging / _MARKER).write_text(
            json.dumps({"source": str(reference), "dtype": dtype_name(dtype)})
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _check_same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> None:
    probe = torch.arange(1, 17).unsqueeze(0) % a.config.vocab_size
    with torch.inference_mode():
        la, lb = a(probe).logits, b(probe).logits
    if not torch.allclose(la, lb, atol=1e-4, rtol=1e-4):
        raise CorruptModelFileError(
            "the converted model does not reproduce the GGUF model's outputs"
        )
