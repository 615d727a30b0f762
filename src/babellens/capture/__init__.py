"""Read and write any hook point with plain PyTorch hooks, and the model handle that does it.

``LanguageModel`` (what ``babellens.load`` returns) lives here because running with hooks is
this layer's job; ``models`` below only finds, reads and describes a model.
"""

from babellens.capture.hook_points import HOOK_KINDS, HookKind, HookPoint, parse_hook_point
from babellens.capture.interventions import Intervention, add, replace, scale, zero_ablate
from babellens.capture.language_model import LanguageModel, load
from babellens.capture.reductions import (
    Reduction,
    last_position,
    max_over_positions,
    mean_over_positions,
)
from babellens.capture.run import GradMode, RunResult, eager_attention, run_with_hooks
from babellens.capture.session import HookSession, StopForward

__all__ = [
    "HOOK_KINDS",
    "GradMode",
    "HookKind",
    "HookPoint",
    "HookSession",
    "Intervention",
    "LanguageModel",
    "Reduction",
    "RunResult",
    "StopForward",
    "add",
    "eager_attention",
    "last_position",
    "load",
    "max_over_positions",
    "mean_over_positions",
    "parse_hook_point",
    "replace",
    "run_with_hooks",
    "scale",
    "zero_ablate",
]
