"""BabelLens: a self-hosted interpretability workbench for any Hugging Face causal LM.

import babellens
lm = babellens.load("smollm2-135m")
out = lm.run("The capital of France is", capture=["mlp_post.3"])
"""

from babellens.capture import (
    HookPoint,
    Intervention,
    LanguageModel,
    RunResult,
    add,
    load,
    max_over_positions,
    replace,
    scale,
    zero_ablate,
)
from babellens.errors import BabelLensError
from babellens.models import BUNDLED_MODELS, DEFAULT_MODEL, ModelSummary, pull

__version__ = "0.1.0"

__all__ = [
    "BUNDLED_MODELS",
    "DEFAULT_MODEL",
    "BabelLensError",
    "HookPoint",
    "Intervention",
    "LanguageModel",
    "ModelSummary",
    "RunResult",
    "__version__",
    "add",
    "load",
    "max_over_positions",
    "pull",
    "replace",
    "scale",
    "zero_ablate",
]
