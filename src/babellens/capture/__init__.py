"""Read and write any hook point with plain PyTorch hooks."""

from babellens.capture.hook_points import HOOK_KINDS, HookKind, HookPoint, parse_hook_point
from babellens.capture.interventions import Intervention, add, replace, scale, zero_ablate
from babellens.capture.model_view import AdapterView, ModelView
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
    "AdapterView",
    "GradMode",
    "HookKind",
    "HookPoint",
    "HookSession",
    "Intervention",
    "ModelView",
    "Reduction",
    "RunResult",
    "StopForward",
    "add",
    "eager_attention",
    "last_position",
    "max_over_positions",
    "mean_over_positions",
    "parse_hook_point",
    "replace",
    "run_with_hooks",
    "scale",
    "zero_ablate",
]
