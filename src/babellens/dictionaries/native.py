"""BabelLens's own dictionary file: one safetensors file, the module's config in its header.

One self-describing file per dictionary means a reader never needs a side file to know the shape
or the encoder, and a file that is not a dictionary is refused with one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from babellens.dictionaries.model import SparseDictionary
from babellens.errors import InvalidInputError

__all__ = ["load_native", "save_native"]

_KEY = "babellens_dictionary"


def save_native(sd: SparseDictionary, path: Path, extra: dict[str, Any] | None = None) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu().float() for k, v in sd.state_dict().items()}
    header = {"config": sd.config, **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={_KEY: json.dumps(header)})


def load_native(path: Path) -> tuple[SparseDictionary, dict[str, Any]]:
    """The dictionary in ``path`` and the rest of its header (provenance)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_KEY)
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise InvalidInputError(f"{path} is not a readable safetensors file: {exc}") from None
    if raw is None:
        raise InvalidInputError(f"{path} is not a BabelLens dictionary file (no dictionary header)")
    header = json.loads(raw)
    sd = SparseDictionary.from_config(header.pop("config"))
    sd.load_state_dict({k: v.float() for k, v in tensors.items()})
    return sd, header
