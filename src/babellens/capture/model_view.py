"""What capture needs to know about a model, declared here so capture never imports ``models``.

Capture sits below ``models`` in the layers: hooks only need a model's modules by role and
layer, which :class:`babellens.models.ModelAdapter` provides, and ``LanguageModel.run`` /
``.hooks`` / ``.unembed`` call down into capture. Declaring the two small interfaces here
(structural types, nothing to inherit) is what lets ``models`` depend on ``capture`` and not
the other way round.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

__all__ = ["AdapterView", "ModelView", "SpecView"]


class SpecView(Protocol):
    """The spec fields hooks read by name; any other field is read with ``getattr``."""

    name: str
    blocks: str
    mlp: str
    flat_mlp: bool


class AdapterView(Protocol):
    """A spec resolved against one model: modules by role and layer, and its sizes."""

    spec: SpecView  # a babellens.models.ArchitectureSpec; other fields are read by getattr

    @property
    def n_layers(self) -> int: ...

    @property
    def n_heads(self) -> int: ...

    @property
    def head_dim(self) -> int: ...

    @property
    def n_experts(self) -> int: ...

    @property
    def decoder(self) -> nn.Module: ...

    def module(self, template: str, layer: int = 0) -> nn.Module: ...

    def block(self, layer: int) -> nn.Module: ...

    def experts(self, layer: int) -> nn.Module: ...

    def is_moe_layer(self, layer: int) -> bool: ...

    def check_layer(self, layer: int) -> int: ...


class ModelView(Protocol):
    """A loaded model as a forward pass sees it (:class:`babellens.LanguageModel` is one)."""

    model: nn.Module
    adapter: AdapterView

    @property
    def device(self) -> torch.device: ...
