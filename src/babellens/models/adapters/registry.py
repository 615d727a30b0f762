"""Find the spec for a model: by ``config.model_type``, else by inferring a llama-like layout."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from babellens.errors import UnsupportedArchitectureError
from babellens.models.adapters.families import FAMILIES, llama_like
from babellens.models.adapters.spec import ArchitectureSpec

__all__ = ["register_spec", "spec_for", "supported_families"]

_REGISTRY: dict[str, ArchitectureSpec] = {}


def register_spec(spec: ArchitectureSpec) -> ArchitectureSpec:
    """Add (or replace) a family; its ``model_types`` become loadable."""
    for model_type in spec.model_types:
        _REGISTRY[model_type] = spec
    return spec


for _spec in FAMILIES:
    register_spec(_spec)


def supported_families() -> list[str]:
    return sorted({spec.name for spec in _REGISTRY.values()})


def _has_modules(model: nn.Module, spec: ArchitectureSpec) -> bool:
    names = dict(model.named_modules())
    required = [spec.embed, spec.blocks, spec.attn, spec.attn_o, spec.mlp, spec.mlp_in]
    required += [spec.mlp_out, spec.final_norm, spec.unembed]
    required += [
        p for p in (spec.attn_q, spec.attn_k, spec.attn_v, spec.attn_qkv, spec.mlp_gate) if p
    ]
    return all(spec.path(p, 0) in names for p in required)


def spec_for(model: nn.Module) -> ArchitectureSpec:
    """The spec of ``model``; raises with the list of supported families if none fits."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    spec = _REGISTRY.get(model_type or "")
    if spec is not None and _has_modules(model, spec):
        return spec
    fallback = llama_like(f"llama-like ({model_type})", (model_type or "unknown",))
    if _has_modules(model, fallback):
        return replace(fallback, notes="Inferred llama-like layout; no spec declared for it.")
    raise UnsupportedArchitectureError(
        f"unsupported architecture {model_type!r} ({type(model).__name__}); supported families: "
        f"{', '.join(supported_families())} and llama-like layouts. To add one, declare an "
        "ArchitectureSpec (see babellens/models/adapters/families.py) and pass it to register_spec()."
    )
