"""Architecture adapters: one spec per model family, declared as data."""

from babellens.models.adapters.adapter import ModelAdapter
from babellens.models.adapters.families import FAMILIES, llama_like
from babellens.models.adapters.families_classic import CLASSIC_FAMILIES
from babellens.models.adapters.families_routed import ROUTED_FAMILIES
from babellens.models.adapters.registry import (
    ARCHITECTURES,
    architecture,
    register_spec,
    spec_for,
    supported_families,
)
from babellens.models.adapters.spec import ArchitectureSpec, SharedExpert

__all__ = [
    "ARCHITECTURES",
    "CLASSIC_FAMILIES",
    "FAMILIES",
    "ROUTED_FAMILIES",
    "ArchitectureSpec",
    "ModelAdapter",
    "SharedExpert",
    "architecture",
    "llama_like",
    "register_spec",
    "spec_for",
    "supported_families",
]
