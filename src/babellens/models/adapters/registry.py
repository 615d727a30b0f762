"""Find the spec for a model: a declared family, else a spec inferred from its module names."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from babellens.errors import UnsupportedArchitectureError
from babellens.models.adapters.expert_layout import ExpertsLayout, experts_problem
from babellens.models.adapters.families import FAMILIES
from babellens.models.adapters.families_classic import CLASSIC_FAMILIES
from babellens.models.adapters.families_routed import ROUTED_FAMILIES
from babellens.models.adapters.inference import infer_spec
from babellens.models.adapters.refusals import FAMILY_REFUSALS, structural_refusal
from babellens.models.adapters.spec import ArchitectureSpec
from babellens.registry import Registry

__all__ = ["ARCHITECTURES", "architecture", "register_spec", "spec_for", "supported_families"]

_HOW_TO_ADD = (
    "To add one, declare an ArchitectureSpec (see babellens/models/adapters/families.py) and "
    "pass it to register_spec()."
)

ARCHITECTURES: Registry[ArchitectureSpec] = Registry("model type", hint=_HOW_TO_ADD)
"""Declared families by ``config.model_type``: one spec may answer to several model types."""


def register_spec(spec: ArchitectureSpec) -> ArchitectureSpec:
    """Add (or replace) a family; its ``model_types`` become loadable."""
    for model_type in spec.model_types:
        ARCHITECTURES.add(model_type, spec)
    return spec


def architecture(factory: Callable[[], ArchitectureSpec]) -> Callable[[], ArchitectureSpec]:
    """``@architecture`` on a function returning a spec: registers it under all its model types
    (a spec answers to several ``model_type`` names, so the registry's one-name decorator does
    not fit)."""
    register_spec(factory())
    return factory


for _spec in (*FAMILIES, *CLASSIC_FAMILIES, *ROUTED_FAMILIES):
    register_spec(_spec)


def supported_families() -> list[str]:
    return sorted({spec.name for spec in ARCHITECTURES.values()})


def _has_modules(model: nn.Module, spec: ArchitectureSpec) -> bool:
    names = dict(model.named_modules())
    required = [spec.embed, spec.blocks, spec.attn, spec.attn_o, spec.mlp, spec.mlp_in]
    required += [spec.mlp_out, spec.unembed, *spec.norms.values()]
    required += [spec.final_norm] if spec.final_norm else []
    required += [
        p for p in (spec.attn_q, spec.attn_k, spec.attn_v, spec.attn_qkv, spec.mlp_gate) if p
    ]
    return all(spec.path(p, 0) in names for p in required)


def _refuse(model: nn.Module, model_type: str | None, what: str) -> UnsupportedArchitectureError:
    return UnsupportedArchitectureError(
        f"{model_type or type(model).__name__} ({type(model).__name__}) is not supported: "
        f"BabelLens has no exact hook points for {what}"
    )


def _in_features(module: nn.Module) -> int:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return -1
    return int(weight.shape[0] if type(module).__name__ == "Conv1D" else weight.shape[1])


def _declared_heads(model: nn.Module, spec: ArchitectureSpec, n_layers: int) -> list[int] | None:
    """Each layer's query heads where the spec says the config lists them, else ``None``."""
    if spec.heads_per_layer is None:
        return None
    config = model.config  # type: ignore[union-attr]
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = list(getattr(config, spec.heads_per_layer))
    return heads if len(heads) == n_layers else None


def _uneven_layers(model: nn.Module, spec: ArchitectureSpec) -> str | None:
    """Layers whose attention or MLP widths differ (one head size and d_mlp per model here;
    attention widths may follow a declared per-layer head count, one head size throughout)."""
    names = dict(model.named_modules())
    n_layers = len(names[spec.blocks])  # type: ignore[arg-type]
    moe = {i for i in range(n_layers) if spec.experts and spec.path(spec.experts, i) in names}
    heads = _declared_heads(model, spec, n_layers)
    for template, what in ((spec.attn_o, "attention widths"), (spec.mlp_out, "MLP widths")):
        dense = [i for i in range(n_layers) if template == spec.attn_o or i not in moe]
        widths = [_in_features(names[spec.path(template, i)]) for i in dense]
        if -1 in widths:
            return f"projections that are not plain linear layers ({template.format(layer=0)})"
        if template == spec.attn_o and heads is not None:  # one head size: width / heads
            widths = [w / h if h > 0 else -1 for w, h in zip(widths, heads, strict=True)]
        if len(set(widths)) > 1:
            return f"{what} that differ from layer to layer ({sorted(set(widths))})"
    return None


def _experts_problem(model: nn.Module, spec: ArchitectureSpec) -> str | None:
    """Why the experts modules cannot be read exactly, if they cannot (layout, signature)."""
    names = dict(model.named_modules())
    layers = range(len(names[spec.blocks]))  # type: ignore[arg-type]
    scaled = spec.experts_router is not None
    for module in (names.get(spec.path(spec.experts, i)) for i in layers):  # type: ignore[arg-type]
        layout = ExpertsLayout(transposed=True) if scaled else None
        problem = None if module is None else experts_problem(module, layout, routed=not scaled)
        if problem:
            return problem
    return None


def spec_for(model: nn.Module) -> ArchitectureSpec:
    """The spec of ``model``; raises, naming what is missing, if none fits."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type in FAMILY_REFUSALS:
        raise _refuse(model, model_type, FAMILY_REFUSALS[model_type])
    spec = ARCHITECTURES.get(model_type or "")
    if spec is not None and _has_modules(model, spec):
        return spec
    structure = structural_refusal(model)
    if structure is not None:
        raise _refuse(model, model_type, structure)
    inferred = infer_spec(model, model_type or "unknown")
    if inferred is not None:
        uneven = _experts_problem(model, inferred) if inferred.experts else None
        uneven = uneven or _uneven_layers(model, inferred)
        if uneven:
            raise _refuse(model, model_type, uneven)
        return inferred
    raise UnsupportedArchitectureError(
        f"unsupported architecture {model_type!r} ({type(model).__name__}): no decoder blocks with "
        f"attention and an MLP under known names; declared families: {', '.join(supported_families())}. "
        + _HOW_TO_ADD
    )
