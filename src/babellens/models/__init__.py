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
from babellens.models.summary import ModelSummary

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "ArchitectureSpec",
    "BundledModel",
    "LanguageModel",
    "ModelAdapter",
    "ModelSummary",
    "bundled_model",
    "load",
    "pull",
    "register_spec",
    "supported_families",
]
