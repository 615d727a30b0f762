"""A steering vector: one direction per layer, with where it came from.

Saved as safetensors (one tensor per layer, ``layer.L``, and the provenance as JSON metadata), and
exported in llama.cpp's control-vector GGUF layout (``direction.L`` tensors), so a vector found here
steers the same model under ``llama-cli --control-vector``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from babellens.errors import CorruptModelFileError, InvalidInputError

__all__ = ["SteeringVector", "VectorInfo"]


class VectorInfo(BaseModel):
    """Provenance: what the store and the API show about a vector."""

    name: str
    model: str
    method: str = Field(
        description="mean_diff (difference of means) or pca (first PC of differences)"
    )
    read: str = Field(description="last, mean or completion_mean")
    layers: list[int]
    d_model: int
    data: str = Field(description="Contrast data name")
    n_examples: int
    norms: dict[int, float] = Field(description="Vector norm per layer")
    diff_cosine: dict[int, float] = Field(
        default_factory=dict,
        description="Mean cosine similarity of the per-pair differences with the vector (pairs only)",
    )


class SteeringVector(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    info: VectorInfo
    directions: dict[int, torch.Tensor]

    def direction(self, layer: int) -> torch.Tensor:
        if layer not in self.directions:
            raise InvalidInputError(
                f"vector {self.info.name!r} has layers {sorted(self.directions)}, not {layer}"
            )
        return self.directions[layer]

    def check_model(self, d_model: int, n_layers: int) -> None:
        if self.info.d_model != d_model:
            raise InvalidInputError(
                f"vector {self.info.name!r} has width {self.info.d_model} but the model's residual stream has {d_model}: build it for this model"
            )
        bad = [layer for layer in self.directions if not 0 <= layer < n_layers]
        if bad:
            raise InvalidInputError(
                f"vector {self.info.name!r} has layers {bad} the model does not have (0..{n_layers - 1})"
            )

    # ---- files -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        tensors = {
            f"layer.{layer}": v.detach().float().cpu().contiguous()
            for layer, v in self.directions.items()
        }
        save_file(tensors, str(path), metadata={"babellens": self.info.model_dump_json()})
        return path

    @classmethod
    def load(cls, path: str | Path) -> SteeringVector:
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"no vector file {path}")
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                directions = {int(k.split(".", 1)[1]): fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
            info = VectorInfo.model_validate_json(meta["babellens"])
        except (KeyError, ValueError, OSError, SafetensorError) as exc:
            raise CorruptModelFileError(
                f"{path} is not a BabelLens steering vector ({str(exc)[:80]})"
            ) from None
        return cls(info=info, directions=directions)

    def export_gguf(self, path: str | Path, architecture: str = "llama") -> Path:
        """llama.cpp control vector: llama.cpp adds ``direction.N`` to the output of block ``N``
        (counted from 0, as here), so ``resid_post.L`` maps to ``direction.L``. llama.cpp never
        steers block 0's output (``direction.0`` is invalid there), so layer 0 cannot be exported."""
        import gguf
        import numpy as np

        layers = sorted(layer for layer in self.directions if layer > 0)
        if not layers:
            raise InvalidInputError(
                "llama.cpp cannot steer layer 0: build the vector at layers 1 and above"
            )
        path = Path(path)
        writer = gguf.GGUFWriter(str(path), "controlvector")
        writer.add_string("controlvector.model_hint", architecture)
        writer.add_uint32("controlvector.layer_count", len(layers))
        for layer in layers:
            vector = self.directions[layer].detach().float().cpu().numpy().astype(np.float32)
            writer.add_tensor(f"direction.{layer}", vector)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path

    def summary(self) -> dict[str, Any]:
        return self.info.model_dump()
