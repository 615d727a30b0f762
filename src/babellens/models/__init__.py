"""Loading models and mapping their architecture."""

from babellens.models.adapters import (
    ArchitectureSpec,
    ModelAdapter,
    register_spec,
    supported_families,
)
from babellens.models.bundled import BUNDLED_MODELS, DEFAULT_MODEL, BundledModel, bundled_model
from babellens.models.fetch import pull
from babellens.models.language_model import LanguageModel
from babellens.models.loading import load
from babellens.models.norms import NormAffine, norm_affine
from babellens.models.precision import auto_dtype, cpu_has_fast_bfloat16, dtype_name, resolve_dtype
from babellens.models.summary import ModelSummary

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "ArchitectureSpec",
    "BundledModel",
    "LanguageModel",
    "ModelAdapter",
    "ModelSummary",
    "NormAffine",
    "auto_dtype",
    "bundled_model",
    "cpu_has_fast_bfloat16",
    "dtype_name",
    "load",
    "norm_affine",
    "pull",
    "register_spec",
    "resolve_dtype",
    "supported_families",
]
