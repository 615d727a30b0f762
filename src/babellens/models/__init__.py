"""Finding, reading and describing models: loading, bundled models, architecture specs, model math.

The handle analyses run (``LanguageModel``, ``babellens.load``) is one layer up, in ``capture``.
"""

from babellens.models.adapters import (
    ArchitectureSpec,
    ModelAdapter,
    register_spec,
    supported_families,
)
from babellens.models.bundled import BUNDLED_MODELS, DEFAULT_MODEL, BundledModel, bundled_model
from babellens.models.fetch import pull
from babellens.models.loading import PretrainedModel, load_pretrained
from babellens.models.norms import NormAffine, norm_affine
from babellens.models.precision import auto_dtype, cpu_has_fast_bfloat16, dtype_name, resolve_dtype
from babellens.models.summary import ModelSummary

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "ArchitectureSpec",
    "BundledModel",
    "ModelAdapter",
    "ModelSummary",
    "NormAffine",
    "PretrainedModel",
    "auto_dtype",
    "bundled_model",
    "cpu_has_fast_bfloat16",
    "dtype_name",
    "load_pretrained",
    "norm_affine",
    "pull",
    "register_spec",
    "resolve_dtype",
    "supported_families",
]
