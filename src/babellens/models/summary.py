"""The architecture summary shown by ``babellens info`` and served by the API."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ModelSummary"]


class ModelSummary(BaseModel):
    name: str = Field(description="What the user asked for: alias, hub id or path")
    source: str = Field(description="bundled, folder, gguf or hub")
    architecture: str = Field(description="The BabelLens family spec that maps this model")
    hf_class: str
    model_type: str
    n_layers: int
    d_model: int
    d_mlp: int
    n_heads: int = Field(
        description="Query heads per layer (the most of any layer where they differ)"
    )
    heads_per_layer: list[int] | None = Field(
        default=None, description="Each layer's query heads, where layers differ (Laguna)"
    )
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    n_params: int
    gated_mlp: bool
    parallel_residual: bool
    dtype: str
    device: str
    hook_points: list[str] = Field(description="Every hook point name, KIND.LAYER")
